//! Sessions and tokens. A login creates a session item (`SESSION#<id>` in the tenant table)
//! holding the hash of the current refresh token, the hashes already spent, the last activity
//! and the user's session epoch at login.
//!
//! - Access token: an EdDSA JWT of 15 minutes (`kid` names the signing key), checked against
//!   the injectable clock, and on every request against its live session and user — so
//!   logout, reset, disable and device-key reset take effect at once.
//! - Refresh token `<tenant>.<session>.<secret>`: single use, rotated on every refresh with a
//!   conditional write; presenting a spent one (or racing two uses of one) revokes the session.
//! - 72 h without authenticated activity ends the session (TTL `expires_at` slides with use).
//! - Revoking all of a user's sessions is one write: bump the user's `session_epoch`.

use anyhow::Context as _;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, Header, Validation};
use sha2::{Digest, Sha256};

use super::keys::{token_hash, KeySet};
use super::tokens::Claims;
pub use super::tokens::VerifiedTokens;
use super::users::{self, UserRecord};
use crate::domain::types::TenantId;
use crate::ports::store::{AttrValue, Cond, Item, StoreError, Table, TxOp, Update, EXPIRES_AT};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::tenancy::audit;

pub use crate::domain::policy::{ACCESS_TOKEN_TTL_SECS as ACCESS_TTL_SECS, SESSION_IDLE_SECS as IDLE_SECS};
/// Activity is recorded at most once a minute per session (a write per request is waste).
const ACTIVITY_STEP_SECS: i64 = 60;
const KEEP_SPENT: usize = 20;
const SK: &str = "SESSION";

pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    /// The user's flag as it is now (API.md returns it with every token pair).
    pub password_change_required: bool,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    pub tenant_slug: String,
    pub user_id: String,
    pub session_id: String,
    pub user: UserRecord,
    /// The session began with a single sign-on: the IdP's MFA applies, so Bulwark's own MFA
    /// enrolment requirement does not (API.md "Single sign-on").
    pub sso: bool,
    /// An item of the tenant table read in the same round trip as the session (the route
    /// asked for it: see [`authenticate_with`]), so the service need not read it again.
    pub prefetched: Prefetched,
}

/// One item read beside the session: its key and what was there (`None`: nothing).
#[derive(Clone, Debug, Default)]
pub struct Prefetched(Option<((String, String), Option<Item>)>);

impl Prefetched {
    /// What authentication read at `pk`/`sk` beside the session.
    pub fn new(pk: String, sk: String, item: Option<Item>) -> Prefetched {
        Prefetched(Some(((pk, sk), item)))
    }

    /// The item at `pk`/`sk` if it was prefetched (`Some(None)`: read, and absent); `None`
    /// when another key or nothing was prefetched.
    pub fn get(&self, pk: &str, sk: &str) -> Option<Option<&Item>> {
        match &self.0 {
            Some(((p, s), item)) if p == pk && s == sk => Some(item.as_ref()),
            _ => None,
        }
    }
}

/// Whether a session must change the user's password before anything else: the admin forced
/// it, and the session signed in with that password (an SSO session never uses it; its
/// account's Bulwark password is random).
pub fn must_change_password(user: &UserRecord, method: Option<&str>) -> bool {
    user.password_change_required && !method.is_some_and(is_sso)
}

impl Principal {
    /// [`must_change_password`] for this request's session.
    pub fn must_change_password(&self) -> bool {
        self.user.password_change_required && !self.sso
    }
}

/// Whether a sign-in method is a single sign-on.
pub fn is_sso(method: &str) -> bool {
    matches!(method, "oidc" | "saml")
}

fn session_pk(sid: &str) -> String {
    format!("SESSION#{sid}")
}

fn new_refresh(tenant: &TenantId, sid: &str) -> String {
    format!("{}.{sid}.{}", tenant.as_str(), URL_SAFE_NO_PAD.encode(*crate::domain::crypto::random_32()))
}

async fn sign(
    state: &Context,
    tenant: &TenantId,
    slug: &str,
    user_id: &str,
    sid: &str,
) -> Result<String, ServiceError> {
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("sign: identity_keys.get")?;
    let now = state.ports.clock.now_secs();
    let claims = Claims {
        sub: user_id.into(),
        tid: tenant.as_str().into(),
        tsl: slug.into(),
        sid: sid.into(),
        iat: now,
        exp: now + ACCESS_TTL_SECS,
        typ: "access".into(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(keys.current.kid.clone());
    jsonwebtoken::encode(&header, &claims, &keys.current.encoding)
        .context("sign: jsonwebtoken::encode")
        .map_err(Into::into)
}

/// A session about to start, for a user who just proved who they are; its tokens are
/// issued once its write (see [`start`]) has committed with the rest of the login.
pub struct NewSession {
    tenant: TenantId,
    slug: String,
    user_id: String,
    sid: String,
    refresh: String,
    password_change_required: bool,
}

/// The session's write, to commit with the rest of the login, and the session to issue.
pub fn start(state: &Context, tenant: &TenantId, slug: &str, user: &UserRecord, method: &str) -> (TxOp, NewSession) {
    let sid = uuid::Uuid::new_v4().simple().to_string();
    let refresh = new_refresh(tenant, &sid);
    let now = state.ports.clock.now_secs();
    let item = Item::new(session_pk(&sid), SK)
        .with("user_id", user.user_id.as_str())
        .with("tenant_slug", slug)
        .with("epoch", user.session_epoch)
        .with("refresh_hash", token_hash(&refresh))
        .with("spent", AttrValue::L(vec![]))
        .with("revoked", false)
        .with("created_at", now)
        .with("last_active", now)
        .with("method", method)
        .with(EXPIRES_AT, now + IDLE_SECS);
    let session = NewSession {
        tenant: tenant.clone(),
        slug: slug.to_owned(),
        user_id: user.user_id.clone(),
        sid,
        refresh,
        // The forced change is of Bulwark's password, which an SSO session never uses.
        password_change_required: must_change_password(user, Some(method)),
    };
    (TxOp::Put { table: Table::tenant(tenant), item, cond: Cond::NotExists }, session)
}

impl NewSession {
    /// The token pair, once the session's write has committed.
    pub async fn tokens(self, state: &Context) -> Result<Tokens, ServiceError> {
        let access_token = sign(state, &self.tenant, &self.slug, &self.user_id, &self.sid).await?;
        Ok(Tokens {
            access_token,
            refresh_token: self.refresh,
            expires_in: ACCESS_TTL_SECS,
            password_change_required: self.password_change_required,
        })
    }
}

fn live(session: &Item, user: &UserRecord, now: i64) -> bool {
    !session.bool("revoked").unwrap_or(true)
        && session.n("last_active").is_some_and(|t| t + IDLE_SECS > now)
        && session.n("epoch") == Some(user.session_epoch)
        && session.s("user_id") == Some(user.user_id.as_str())
        && !user.disabled
}

/// Check an access token and its live session; record activity.
/// The claims of an access token whose signature is good under one of `keys` (EdDSA only,
/// the key found by `kid`). Expiry and the session are the caller's to check.
pub fn verify_signature(keys: &KeySet, token: &str) -> Result<Claims, ServiceError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| ServiceError::Unauthorized)?;
    let key = header.kid.as_deref().and_then(|k| keys.find(k)).ok_or(ServiceError::Unauthorized)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    // Expiry is checked against the injectable clock, like every other expiry.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    Ok(jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
        .map_err(|_| ServiceError::Unauthorized)?
        .claims)
}

/// A refresh token `<tenant>.<session>.<secret>`, its parts checked for shape.
pub fn parse_refresh_token(token: &str) -> Option<(TenantId, &str, &str)> {
    let mut parts = token.splitn(3, '.');
    let (tid, sid, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let tenant = TenantId::parse(tid).ok()?;
    (sid.len() == 32 && sid.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 43)
        .then_some((tenant, sid, secret))
}

/// Check an access token against its live session and user (every request), recording
/// activity.
pub async fn authenticate(state: &Context, token: &str) -> Result<Principal, ServiceError> {
    authenticate_with(state, token, None).await
}

/// [`authenticate`], reading `also` (an item of the caller's tenant table the request will
/// need, e.g. the conversation it names) in the same batched read as the session and user.
/// Nothing about `also` is trusted here: the service that uses it applies its own checks.
pub async fn authenticate_with(
    state: &Context,
    token: &str,
    also: Option<(String, String)>,
) -> Result<Principal, ServiceError> {
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("authenticate: identity_keys.get")?;
    // The digest covers the header too, so a hit was verified under a key with the same kid;
    // the key must still be current or previous.
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let claims = match state.verified_tokens.get(&digest) {
        Some(claims) => {
            let header = jsonwebtoken::decode_header(token).map_err(|_| ServiceError::Unauthorized)?;
            header.kid.as_deref().and_then(|k| keys.find(k)).ok_or(ServiceError::Unauthorized)?;
            claims
        }
        None => {
            let claims = verify_signature(&keys, token)?;
            state.verified_tokens.insert(digest, &claims);
            claims
        }
    };
    let now = state.ports.clock.now_secs();
    if claims.typ != "access" || claims.exp <= now || claims.iat > now + 60 {
        return Err(ServiceError::Unauthorized);
    }
    let tenant = TenantId::parse(&claims.tid).map_err(|_| ServiceError::Unauthorized)?;
    if crate::services::tenancy::status::is_disabled(state, &tenant).await? {
        return Err(ServiceError::Unauthorized);
    }
    let store = &state.ports.store;
    // Session and user in one round trip: every request still checks its session.
    let (spk, usk) = (session_pk(&claims.sid), users::user_sk(&claims.sub));
    let mut keys = vec![(spk.as_str(), SK), (users::USERS_PK, usk.as_str())];
    if let Some((pk, sk)) = &also {
        keys.push((pk.as_str(), sk.as_str()));
    }
    let mut found = store.get_many(&Table::tenant(&tenant), &keys).await.context("authenticate: store.get_many")?;
    let prefetched = also.map(|(pk, sk)| Prefetched::new(pk, sk, found.pop().flatten())).unwrap_or_default();
    let user = found.pop().flatten().ok_or(ServiceError::Unauthorized)?;
    let session = found.pop().flatten().ok_or(ServiceError::Unauthorized)?;
    let user = UserRecord::from_item(user).context("authenticate: the user")?;
    if !live(&session, &user, now) {
        return Err(ServiceError::Unauthorized);
    }
    if session.n("last_active").is_some_and(|t| now - t >= ACTIVITY_STEP_SECS) {
        let touch = Update::default().set("last_active", now).set(EXPIRES_AT, now + IDLE_SECS);
        match store
            .update(&Table::tenant(&tenant), &session_pk(&claims.sid), SK, touch, Cond::eq("revoked", false))
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(ServiceError::internal(e)),
        }
    }
    let sso = session.s("method").is_some_and(is_sso);
    Ok(Principal {
        tenant,
        tenant_slug: claims.tsl,
        user_id: claims.sub,
        session_id: claims.sid,
        user,
        sso,
        prefetched,
    })
}

/// Exchange a refresh token for a new pair.
pub async fn refresh(state: &Context, token: &str) -> Result<Tokens, ServiceError> {
    let (tenant, sid, _) = parse_refresh_token(token).ok_or(ServiceError::InvalidCredentials)?;
    let store = &state.ports.store;
    let now = state.ports.clock.now_secs();
    let pk = session_pk(sid);
    let session = match store.get(&Table::tenant(&tenant), &pk, SK).await {
        Ok(Some(s)) => s,
        // Expired (TTL) or never existed, or a tenant that does not exist.
        Ok(None) | Err(StoreError::NoSuchTable) => return Err(ServiceError::SessionExpired),
        Err(e) => return Err(ServiceError::internal(e)),
    };
    if crate::services::tenancy::status::is_disabled(state, &tenant).await? {
        return Err(ServiceError::SessionExpired);
    }
    let presented = token_hash(token);
    if session.s("refresh_hash") != Some(presented.as_str()) {
        let spent =
            matches!(session.get("spent"), Some(AttrValue::L(l)) if l.contains(&AttrValue::S(presented.clone())));
        if spent {
            revoke_session(state, &tenant, sid, session.s("user_id").unwrap_or("unknown"), "session.refresh_reuse")
                .await?;
            return Err(ServiceError::SessionExpired);
        }
        return Err(ServiceError::InvalidCredentials);
    }
    let user_id = session.s("user_id").unwrap_or_default().to_owned();
    let user = users::get(state, &tenant, &user_id)
        .await
        .context("refresh: users::get")?
        .ok_or(ServiceError::SessionExpired)?;
    if !live(&session, &user, now) {
        return Err(ServiceError::SessionExpired);
    }
    let next = new_refresh(&tenant, sid);
    let mut spent = match session.get("spent") {
        Some(AttrValue::L(l)) => l.clone(),
        _ => vec![],
    };
    spent.push(AttrValue::S(presented.clone()));
    let excess = spent.len().saturating_sub(KEEP_SPENT);
    spent.drain(..excess);
    let rotate = Update::default()
        .set("refresh_hash", token_hash(&next))
        .set("spent", AttrValue::L(spent))
        .set("last_active", now)
        .set(EXPIRES_AT, now + IDLE_SECS);
    let cond = Cond::And(vec![Cond::eq("refresh_hash", presented.as_str()), Cond::eq("revoked", false)]);
    match store.update(&Table::tenant(&tenant), &pk, SK, rotate, cond).await {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => {
            // Another request used this token first: one of the two is a thief.
            revoke_session(state, &tenant, sid, &user_id, "session.refresh_reuse").await?;
            return Err(ServiceError::SessionExpired);
        }
        Err(e) => return Err(ServiceError::internal(e)),
    }
    // Sessions carry their tenant's slug (slugs never change); older records look it up.
    let slug = match session.s("tenant_slug") {
        Some(s) => s.to_owned(),
        None => crate::services::tenancy::tenants::slug_of(state, &tenant).await?,
    };
    let access_token = sign(state, &tenant, &slug, &user_id, sid).await?;
    Ok(Tokens {
        access_token,
        refresh_token: next,
        expires_in: ACCESS_TTL_SECS,
        password_change_required: must_change_password(&user, session.s("method")),
    })
}

/// Revoke one session (logout; theft detection) and audit it.
pub async fn revoke_session(
    state: &Context,
    tenant: &TenantId,
    sid: &str,
    actor: &str,
    action: &str,
) -> Result<(), ServiceError> {
    let revoked = Update::default().set("revoked", true);
    match state.ports.store.update(&Table::tenant(tenant), &session_pk(sid), SK, revoked, Cond::Exists).await {
        Ok(_) | Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(ServiceError::internal(e)),
    }
    audit::record(&state.ports, tenant, actor, action, sid, "success")
        .await
        .context("revoke_session: audit::record")
        .map_err(Into::into)
}

/// Keep one session alive across a bump of the user's epoch (a password change revokes the
/// user's *other* sessions).
pub fn carry_over(tenant: &TenantId, sid: &str, new_epoch: i64) -> crate::ports::TxOp {
    crate::ports::TxOp::Update {
        table: Table::tenant(tenant),
        pk: session_pk(sid),
        sk: SK.into(),
        update: Update::default().set("epoch", new_epoch),
        cond: Cond::eq("revoked", false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::Role;
    use crate::services::testing::Fixture;

    /// GIVEN a signed-in nurse: her session committed and her token pair issued.
    async fn signed_in(f: &Fixture) -> (UserRecord, Tokens) {
        let nurse = f.user("nurse@acme.test", Role::Member).await;
        let (write, session) = start(&f.ctx, &f.tenant, "acme", &nurse, "password");
        f.ctx.ports.store.transact(vec![write]).await.unwrap();
        (nurse, session.tokens(&f.ctx).await.unwrap())
    }

    #[tokio::test]
    async fn a_session_dies_after_72_hours_without_activity() {
        let f = Fixture::new().await;
        let (_, tokens) = signed_in(&f).await;
        // WHEN the refresh token is used 71 h later THEN the session lives on
        f.advance(71 * 3600);
        let tokens = refresh(&f.ctx, &tokens.refresh_token).await.unwrap();
        // AND WHEN the next 72 h pass without activity THEN the session is dead
        f.advance(IDLE_SECS);
        assert!(matches!(refresh(&f.ctx, &tokens.refresh_token).await, Err(ServiceError::SessionExpired)));
    }

    #[tokio::test]
    async fn a_spent_refresh_token_revokes_the_whole_session() {
        let f = Fixture::new().await;
        let (_, first) = signed_in(&f).await;
        let second = refresh(&f.ctx, &first.refresh_token).await.unwrap();
        // WHEN the spent token is presented again (a thief replaying it)
        assert!(refresh(&f.ctx, &first.refresh_token).await.is_err());
        // THEN the legitimate holder's newer tokens die with the session
        assert!(refresh(&f.ctx, &second.refresh_token).await.is_err());
        assert!(matches!(authenticate(&f.ctx, &second.access_token).await, Err(ServiceError::Unauthorized)));
    }

    #[tokio::test]
    async fn bumping_the_users_epoch_ends_every_session_at_once() {
        let f = Fixture::new().await;
        let (nurse, tokens) = signed_in(&f).await;
        assert!(authenticate(&f.ctx, &tokens.access_token).await.is_ok());
        // WHEN an admin revokes all her sessions (one write to her user item)
        let bump = Update::default().add(users::attr::SESSION_EPOCH, 1);
        let table = Table::tenant(&f.tenant);
        f.ctx
            .ports
            .store
            .update(&table, users::USERS_PK, &users::user_sk(&nurse.user_id), bump, Cond::Exists)
            .await
            .unwrap();
        // THEN the very next request with her still-unexpired access token is refused
        assert!(matches!(authenticate(&f.ctx, &tokens.access_token).await, Err(ServiceError::Unauthorized)));
    }
}
