//! Live sessions over Agora RTC: the tenant's Agora credentials (sealed, never returned) and
//! the short-lived AccessToken2 a caller joins a live session's channel with — publisher
//! rights for its speakers and the organizers, subscriber rights for registered attendees.

use anyhow::Context as _;
use rand::Rng;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::domain::agora::{self, RtcGrant, TokenHeader};
use crate::domain::types::{EventId, SessionId, TenantId};
use crate::ports::clock::rfc3339;
use crate::ports::store::{Cond, Item, Table};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::events::agenda::{live_and_speakers, load_session};
use crate::services::events::record::{is_organizer, load, Status};
use crate::services::events::registration::{status_of, REGISTERED};
use crate::services::identity::sessions::Principal;
use crate::services::tenancy::audit;
use crate::services::tenancy::keys::Field;

/// A token's lifetime (API.md: at most an hour).
pub const TOKEN_TTL_SECS: u32 = 3600;
const PK: &str = "INTEGRATION";
const SK: &str = "AGORA";

/// `PUT /v1/admin/integrations/agora`: store the tenant's app id and certificate, sealed.
pub async fn configure(ctx: &Context, p: &Principal, app_id: &str, certificate: &str) -> Result<(), ServiceError> {
    let (app_id, certificate) = (app_id.trim(), Zeroizing::new(certificate.trim().to_owned()));
    if !agora::is_credential(app_id) || !agora::is_credential(&certificate) {
        return Err(ServiceError::ValidationFailed("app_id and app_certificate must be 32 hex digits".into()));
    }
    let mut item =
        Item::new(PK, SK).with("updated_at", rfc3339(ctx.ports.clock.now())).with("updated_by", p.user_id.as_str());
    for (name, value) in [("app_id", app_id.as_bytes()), ("app_certificate", certificate.as_bytes())] {
        let sealed = ctx.tenant_keys.seal_field(&ctx.ports, &p.tenant, &Field { pk: PK, sk: SK, name }, value).await;
        item = item.with(&format!("{name}_enc"), sealed.context("seal the Agora credentials")?);
    }
    ctx.ports.store.put(&Table::tenant(&p.tenant), item, Cond::Always).await.context("store the Agora credentials")?;
    audit::record(&ctx.ports, &p.tenant, &p.user_id, "integration.agora.set", "agora", "success").await?;
    Ok(())
}

/// The tenant's (app id, certificate), or 409 `not_configured`.
async fn credentials(ctx: &Context, tenant: &TenantId) -> Result<(String, Zeroizing<String>), ServiceError> {
    let item = ctx.ports.store.get(&Table::tenant(tenant), PK, SK).await.context("read the Agora credentials")?;
    let item =
        item.ok_or_else(|| ServiceError::NotConfigured("Agora is not configured for your organisation".into()))?;
    let mut open = Vec::new();
    for name in ["app_id", "app_certificate"] {
        let sealed = item.b(&format!("{name}_enc")).ok_or_else(|| anyhow::anyhow!("Agora item without {name}"))?;
        let plain = ctx.tenant_keys.open_field(&ctx.ports, tenant, &Field { pk: PK, sk: SK, name }, sealed).await;
        let plain = plain.context("open the Agora credentials")?;
        open.push(Zeroizing::new(String::from_utf8(plain.to_vec()).context("Agora credential")?));
    }
    let certificate = open.pop().unwrap_or_default();
    let app_id = open.pop().unwrap_or_default();
    Ok((app_id.to_string(), certificate))
}

#[derive(Serialize)]
pub struct RtcToken {
    pub app_id: String,
    pub channel: String,
    pub uid: String,
    pub token: String,
    pub expires_at: String,
    /// `publisher` or `subscriber`.
    pub role: &'static str,
}

/// `POST /v1/events/{id}/sessions/{sid}/rtc-token`.
pub async fn rtc_token(ctx: &Context, p: &Principal, eid: &EventId, sid: &SessionId) -> Result<RtcToken, ServiceError> {
    let event = load(ctx, p, eid).await?;
    let session = load_session(ctx, &p.tenant, eid, sid).await?;
    let (live, speakers) = live_and_speakers(&session);
    let publisher = is_organizer(p) || speakers.contains(&p.user_id);
    if !publisher && status_of(ctx, &p.tenant, eid, &p.user_id).await? != Some(REGISTERED) {
        return Err(ServiceError::NotFound);
    }
    if !live {
        return Err(ServiceError::ValidationFailed("the session is not live".into()));
    }
    if event.status == Status::Cancelled {
        return Err(ServiceError::ValidationFailed("the event is cancelled".into()));
    }
    let (app_id, certificate) = credentials(ctx, &p.tenant).await?;
    let now = ctx.ports.clock.now_secs();
    let issue_ts = u32::try_from(now).context("the clock is past 2106")?;
    let mut privileges = vec![(agora::JOIN_CHANNEL, TOKEN_TTL_SECS)];
    if publisher {
        for p in [agora::PUBLISH_AUDIO, agora::PUBLISH_VIDEO, agora::PUBLISH_DATA] {
            privileges.push((p, TOKEN_TTL_SECS));
        }
    }
    let header = TokenHeader {
        app_id: app_id.clone(),
        issue_ts,
        expire: TOKEN_TTL_SECS,
        salt: rand::thread_rng().gen_range(1..=99_999_999),
    };
    let grant = RtcGrant { channel: sid.as_str().to_owned(), account: p.user_id.clone(), privileges };
    let token = agora::build(&certificate, &header, &grant).map_err(|e| anyhow::anyhow!(e))?;
    let expires = time::OffsetDateTime::from_unix_timestamp(now + i64::from(TOKEN_TTL_SECS)).context("expiry")?;
    Ok(RtcToken {
        app_id,
        channel: grant.channel,
        uid: grant.account,
        token,
        expires_at: rfc3339(expires),
        role: if publisher { "publisher" } else { "subscriber" },
    })
}
