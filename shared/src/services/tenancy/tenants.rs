//! Tenant provisioning (platform operator): reserve the slug, create the tenant's own table
//! (AWS) or namespace (embedded), its first data key and default policy, and invite its first
//! administrator by email.
//!
//! Platform directory items: `SLUG#<slug>/SLUG` → tenant id (the uniqueness guard) and
//! `TENANT#<id>/META` → slug, name, status.

use crate::domain::crypto;
use crate::domain::types::{Email, Role, TenantId, TenantSlug};
use crate::ports::clock::rfc3339;
use crate::ports::mail::OutgoingEmail;
use crate::ports::store::{Cond, Item, StoreError, Table, TxOp, Update, EXPIRES_AT};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::tenancy::keys::Field;
use crate::services::tenancy::{audit, status};
use anyhow::Context as _;

/// Invitations expire after 72 hours.
pub use crate::domain::policy::INVITATION_TTL_SECS;

pub struct NewTenant {
    pub slug: TenantSlug,
    pub name: String,
    pub admin_email: Email,
}

pub struct CreatedTenant {
    pub tenant_id: TenantId,
    pub slug: TenantSlug,
}

/// A single-use token that names its tenant: `<tenant_id>.<43 chars of base64url>`; only its
/// SHA-256 is stored.
pub struct IssuedToken {
    pub token: String,
    pub hash: String,
}

pub fn issue_token(tenant: &TenantId) -> IssuedToken {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let secret = URL_SAFE_NO_PAD.encode(*crypto::random_32());
    let token = format!("{}.{secret}", tenant.as_str());
    let hash = crate::services::identity::keys::token_hash(&token);
    IssuedToken { token, hash }
}

/// The id of an active tenant by slug (`None`: no such tenant). Slugs never change owner,
/// so the answer is cached for the process.
pub async fn id_of_slug(state: &Context, slug: &str) -> Result<Option<TenantId>, ServiceError> {
    if let Some(id) = state.slugs.lock().ok().and_then(|m| m.get(slug).cloned()) {
        return Ok(Some(id));
    }
    let item = state
        .ports
        .store
        .get(&Table::Platform, &format!("SLUG#{slug}"), "SLUG")
        .await
        .context("id_of_slug: store.get")?;
    let Some(id) = item.and_then(|i| i.s("tenant_id").and_then(|t| TenantId::parse(t).ok())) else { return Ok(None) };
    // Only an active (fully provisioned) tenant counts.
    let meta = state
        .ports
        .store
        .get(&Table::Platform, &format!("TENANT#{id}"), "META")
        .await
        .context("id_of_slug: store.get")?;
    if meta.as_ref().and_then(|m| m.s("status")) != Some("active") {
        return Ok(None);
    }
    if let Ok(mut m) = state.slugs.lock() {
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(slug.to_owned(), id.clone());
    }
    Ok(Some(id))
}

/// The tenant's platform-directory item, if the tenant exists.
pub async fn directory_entry(state: &Context, tenant: &TenantId) -> Result<Option<Item>, ServiceError> {
    state
        .ports
        .store
        .get(&Table::Platform, &format!("TENANT#{tenant}"), "META")
        .await
        .context("directory_entry: store.get")
        .map_err(Into::into)
}

/// Slug and name of a tenant.
pub async fn meta_of(state: &Context, tenant: &TenantId) -> Result<(String, String), ServiceError> {
    let meta = directory_entry(state, tenant).await?;
    let meta = meta.ok_or_else(|| ServiceError::internal(anyhow::anyhow!("tenant {tenant} has no directory entry")))?;
    Ok((meta.s("slug").unwrap_or_default().to_owned(), meta.s("name").unwrap_or_default().to_owned()))
}

pub async fn slug_of(state: &Context, tenant: &TenantId) -> Result<String, ServiceError> {
    Ok(meta_of(state, tenant).await?.0)
}

/// Create a tenant. A taken slug is a 409; any failure after the slug was reserved releases
/// it again, so a retry can succeed.
pub async fn create_tenant(state: &Context, req: NewTenant) -> Result<CreatedTenant, ServiceError> {
    let ports = &state.ports;
    let tenant_id = TenantId::generate();
    let now = ports.clock.now_secs();
    let reserve = vec![
        TxOp::Put {
            table: Table::Platform,
            item: Item::new(format!("SLUG#{}", req.slug.as_str()), "SLUG")
                .with("tenant_id", tenant_id.as_str())
                .with("created_at", now),
            cond: Cond::NotExists,
        },
        TxOp::Put {
            table: Table::Platform,
            item: Item::new(format!("TENANT#{tenant_id}"), "META")
                .with("slug", req.slug.as_str())
                .with("name", req.name.as_str())
                .with("status", "provisioning")
                .with("created_at", now),
            cond: Cond::NotExists,
        },
    ];
    match ports.store.transact(reserve).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { .. } | StoreError::ConditionFailed) => {
            return Err(ServiceError::Conflict("this slug is already taken".into()))
        }
        Err(e) => return Err(ServiceError::internal(e)),
    }

    match provision(state, &tenant_id, &req).await {
        Ok(()) => Ok(CreatedTenant { tenant_id, slug: req.slug }),
        Err(e) => {
            let release = vec![
                TxOp::Delete {
                    table: Table::Platform,
                    pk: format!("SLUG#{}", req.slug.as_str()),
                    sk: "SLUG".into(),
                    cond: Cond::eq("tenant_id", tenant_id.as_str()),
                },
                TxOp::Delete {
                    table: Table::Platform,
                    pk: format!("TENANT#{tenant_id}"),
                    sk: "META".into(),
                    cond: Cond::Always,
                },
            ];
            if let Err(e2) = ports.store.transact(release).await {
                tracing::error!(tenant_id = %tenant_id, error = format!("{e2:#}"), "could not release the slug of a failed tenant");
            }
            Err(ServiceError::Internal(e.context(format!("provisioning tenant {tenant_id} failed"))))
        }
    }
}

async fn provision(state: &Context, tenant_id: &TenantId, req: &NewTenant) -> anyhow::Result<()> {
    let ports = &state.ports;
    let table = Table::tenant(tenant_id);
    ports.store.ensure_table(&table).await?;
    state.tenant_keys.create_first(ports, tenant_id).await?;
    let now = ports.clock.now_secs();
    ports
        .store
        .put(&table, crate::services::tenancy::policy::to_item(&Default::default(), now), Cond::NotExists)
        .await?;
    // No push device yet: sends queue no push work until one registers.
    let marker = Item::new(status::PK, status::SK).with(status::DISABLED, false).with(status::PUSH_DEVICES, false);
    ports.store.put(&table, marker, Cond::NotExists).await?;
    let invitation_id =
        create_invitation(state, tenant_id, &req.admin_email, Role::Admin, "operator", &req.name).await?;
    audit::record(ports, tenant_id, "operator", "tenant.create", tenant_id.as_str(), "success").await?;
    audit::record(ports, tenant_id, "operator", "invitation.create", &invitation_id, "success").await?;
    ports
        .store
        .update(
            &Table::Platform,
            &format!("TENANT#{tenant_id}"),
            "META",
            Update::default().set("status", "active"),
            Cond::Exists,
        )
        .await?;
    Ok(())
}

/// Store a pending invitation (email encrypted, token hashed, expiring in 72 h) and email its
/// link. Returns the invitation id.
pub async fn create_invitation(
    state: &Context,
    tenant_id: &TenantId,
    email: &Email,
    role: Role,
    invited_by: &str,
    tenant_name: &str,
) -> anyhow::Result<String> {
    let ports = &state.ports;
    let table = Table::tenant(tenant_id);
    let invitation_id = uuid::Uuid::now_v7().simple().to_string();
    let token = issue_token(tenant_id);
    let (pk, sk) = (format!("INVITE#{}", token.hash), "INVITE".to_owned());
    let at = Field { pk: &pk, sk: &sk, name: "email" };
    let email_enc = state.tenant_keys.seal_field(ports, tenant_id, &at, email.as_str().as_bytes()).await?;
    let now = ports.clock.now();
    let expires = now.unix_timestamp() + INVITATION_TTL_SECS;
    let item = Item::new(&pk, &sk)
        .with("invitation_id", invitation_id.as_str())
        .with("email_enc", email_enc)
        .with("role", role.as_str())
        .with("state", "pending")
        .with("invited_by", invited_by)
        .with("created_at", now.unix_timestamp())
        .with(EXPIRES_AT, expires);
    ports.store.put(&table, item, Cond::NotExists).await?;
    let link = format!("{}/invite?token={}", state.settings.app_url, token.token);
    let expires_text = rfc3339(now + time::Duration::seconds(INVITATION_TTL_SECS));
    ports
        .mailer
        .send(&OutgoingEmail {
            to: email.clone(),
            subject: format!("You're invited to {tenant_name} on Bulwark"),
            text: format!(
                "You have been invited to join {tenant_name} on Bulwark as {role}.\n\n\
                 Accept the invitation and choose your password here:\n{link}\n\n\
                 This link can be used once and expires at {expires_text}.\n\
                 If you did not expect this invitation, ignore this email.\n",
                role = role.as_str()
            ),
        })
        .await?;
    Ok(invitation_id)
}
