//! Account emails that anonymous routes trigger (password reset, MFA recovery). The route only
//! takes a slot of the account's hourly mail budget and queues a job naming the account by
//! its email index; the maintenance worker finds the user, issues the single-use link and
//! sends the mail. So a known and an unknown address cost the route the same work and time
//! (no enumeration by timing), and no mailbox can be flooded through Bulwark.

use crate::domain::types::{Email, TenantId};
use crate::ports::mail::OutgoingEmail;
use crate::ports::store::{Cond, Item, StoreError, Table, Update, EXPIRES_AT};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::users;
pub use crate::services::jobs::AccountMail;
use anyhow::Context as _;

/// Reset links are valid for one hour.
pub use crate::domain::policy::RESET_LINK_TTL_SECS as RESET_TTL_SECS;
const HOUR: i64 = 3600;

/// Take one slot of the hourly mail budget of the account behind `index` (whether or not it
/// exists: the answer must not tell), or 429 with the seconds until the hour turns.
pub async fn claim_budget(state: &Context, table: &Table, index: &str) -> Result<(), ServiceError> {
    let limit = i64::from(state.settings.mail_rate_per_account);
    let now = state.ports.clock.now_secs();
    let hour = now - now.rem_euclid(HOUR);
    let pk = format!("MAILRATE#{index}");
    let slot = Update::default().add("sent", 1).set(EXPIRES_AT, hour + 2 * HOUR);
    let open = Cond::Or(vec![Cond::Missing("sent".into()), Cond::lt("sent", limit)]);
    match state.ports.store.update(table, &pk, &hour.to_string(), slot, open).await {
        Ok(_) => Ok(()),
        Err(StoreError::ConditionFailed) => {
            Err(ServiceError::RateLimited { retry_after_secs: (hour + HOUR - now).max(1) as u64 })
        }
        Err(e) => Err(ServiceError::internal(e)),
    }
}

/// Queue an account email for the maintenance worker.
pub async fn enqueue(state: &Context, mail: AccountMail) -> Result<(), ServiceError> {
    crate::services::jobs::enqueue(state, &crate::services::jobs::Job::AccountMail { mail }, 0)
        .await
        .context("enqueue: jobs::enqueue")
        .map_err(Into::into)
}

/// Send a queued account email (the maintenance worker). An account that does not exist (or
/// is disabled) gets nothing; `Err` means retry later.
pub async fn send(state: &Context, mail: AccountMail) -> anyhow::Result<()> {
    let (tenant_id, user) = match &mail {
        AccountMail::PasswordReset { tenant_id, email_index } => {
            let tenant = TenantId::parse(tenant_id).map_err(|e| anyhow::anyhow!("bad tenant in mail job: {e}"))?;
            (tenant.clone(), users::find_by_index(state, &tenant, email_index).await?)
        }
        AccountMail::MfaRecovery { tenant_id, user_id } => {
            let tenant = TenantId::parse(tenant_id).map_err(|e| anyhow::anyhow!("bad tenant in mail job: {e}"))?;
            (tenant.clone(), users::get(state, &tenant, user_id).await?)
        }
    };
    let Some(user) = user.filter(|u| !u.disabled) else { return Ok(()) };
    let tenant = tenant_id;
    let table = Table::tenant(&tenant);
    let now = state.ports.clock.now_secs();
    let token = crate::services::tenancy::tenants::issue_token(&tenant);
    let (kind, ttl, path, action) = match mail {
        AccountMail::PasswordReset { .. } => ("RESET", RESET_TTL_SECS, "reset-password", "password.reset_request"),
        AccountMail::MfaRecovery { .. } => {
            ("MFARECOVER", crate::services::identity::mfa::RECOVER_TTL_SECS, "recover-mfa", "mfa.recover_request")
        }
    };
    let item = Item::new(format!("{kind}#{}", token.hash), kind)
        .with("user_id", user.user_id.as_str())
        .with("state", "pending")
        .with("created_at", now)
        .with(EXPIRES_AT, now + ttl);
    state.ports.store.put(&table, item, Cond::NotExists).await?;
    let (_, tenant_name) =
        crate::services::tenancy::tenants::meta_of(state, &tenant).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let to = Email::parse(&user.email(state, &tenant).await?).map_err(|e| anyhow::anyhow!("stored email: {e}"))?;
    let link = format!("{}/{path}?token={}", state.settings.app_url, token.token);
    let (subject, text) = match kind {
        "RESET" => (
            format!("Reset your {tenant_name} password"),
            format!(
                "Someone asked to reset the password of your {tenant_name} account on Bulwark.\n\n\
                 Choose a new password here (the link works once, for one hour):\n{link}\n\n\
                 If this was not you, ignore this email; your password stays as it is.\n"
            ),
        ),
        _ => (
            format!("Recover sign-in to your {tenant_name} account"),
            format!(
                "Your security answers were confirmed. To sign in without your authenticator, open this\n\
                 link and enter your password (it works once, for one hour). Multi-factor\n\
                 authentication will be turned off and you will enrol again:\n{link}\n\n\
                 If this was not you, contact your administrator at once.\n"
            ),
        ),
    };
    state.ports.mailer.send(&OutgoingEmail { to, subject, text }).await?;
    crate::services::tenancy::audit::record(&state.ports, &tenant, &user.user_id, action, &user.user_id, "success")
        .await
}
