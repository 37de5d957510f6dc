//! Signing in: invitations, password login with its lockout, the second factor, refresh and
//! logout, password reset and MFA recovery, and re-authentication inside a session. Every
//! factor takes a slot of one lockout counter per account; only a complete login resets it.
//! Every failure that could tell an outsider whether an account exists answers the same way
//! (and, for logins, after the same work).

use crate::services::identity::users::attr;
use anyhow::Context as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::domain::types::{parse_display_text, Email, Role, TenantId, TenantSlug};
use crate::ports::store::{delete_partition, Cond, Item, StoreError, Table, TxOp, Update, EXPIRES_AT};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::account_mail;
use crate::services::identity::keys::{token_hash, token_tenant};
use crate::services::identity::lockout::{self, Claim, LockKey};
use crate::services::identity::sessions::{self, Principal, Tokens};
use crate::services::identity::users::{self, UserRecord};
use crate::services::identity::{mfa, password};
use crate::services::tenancy::audit;
use crate::services::tenancy::keys::Field;
use crate::services::tenancy::tenants;

/// The token pair of API.md, as every sign-in and refresh answers it.
#[derive(Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub password_change_required: bool,
    /// Sign-ins only: the tenant requires MFA and the user has not enrolled yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_enrollment_required: Option<bool>,
}

impl From<Tokens> for TokenPair {
    fn from(t: Tokens) -> Self {
        TokenPair {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            password_change_required: t.password_change_required,
            mfa_enrollment_required: None,
        }
    }
}

/// A password login's answer: the token pair, or the second factor's challenge.
#[derive(Serialize)]
#[serde(untagged)]
pub enum SignIn {
    Tokens(TokenPair),
    MfaRequired { mfa_required: bool, mfa_token: String },
}

#[derive(Serialize)]
pub struct Accepted {
    pub user_id: String,
}

/// The end of every successful sign-in (password, second factor, MFA recovery): clear the
/// lockout count, audit, start a session; flag a pending MFA enrolment the tenant requires.
pub async fn finish_login(
    state: &Context,
    tenant: &TenantId,
    lock: &LockKey,
    user: &users::UserRecord,
    how: &str,
) -> Result<TokenPair, ServiceError> {
    finish_login_with(state, tenant, lock, user, how, &[]).await
}

/// [`finish_login`] whose audit event carries `details` too (single sign-on: the IdP's
/// hashed subject).
pub async fn finish_login_with(
    state: &Context,
    tenant: &TenantId,
    lock: &LockKey,
    user: &users::UserRecord,
    how: &str,
    details: &[(&str, &str)],
) -> Result<TokenPair, ServiceError> {
    let enrolment = async {
        // An SSO sign-in is the IdP's to protect with MFA.
        match user.mfa_enabled || sessions::is_sso(how) {
            true => Ok(false),
            false => Ok(crate::services::tenancy::policy::load(state, tenant).await?.mfa_required),
        }
    };
    // A tenant the operator disabled starts no session (the same answer as an unknown one).
    if crate::services::tenancy::status::is_disabled(state, tenant).await? {
        return Err(ServiceError::InvalidCredentials);
    }
    let (slug, enrol) = tokio::try_join!(tenants::slug_of(state, tenant), enrolment)?;
    // One commit: the counter's reset, the audit event and the session stand or fall together.
    let (start, session) = sessions::start(state, tenant, &slug, user, how);
    let mut details = details.to_vec();
    details.push(("method", how));
    let login = audit::event_with(&state.ports, tenant, &user.user_id, "login.success", how, "success", &details);
    let ops = vec![lockout::reset_op(lock), login, start];
    state.ports.store.transact(ops).await.context("finish_login: store.transact")?;
    crate::services::metrics::count(crate::services::metrics::LOGIN_SUCCEEDED);
    let mut pair = TokenPair::from(session.tokens(state).await?);
    pair.mfa_enrollment_required = Some(enrol);
    Ok(pair)
}

/// The record of a single-use token (invitation, reset, MFA challenge, MFA recovery): item
/// `<KIND>#<sha256 of token>` / `<KIND>` in the token's own tenant. Malformed, unknown,
/// expired, or of a tenant that does not exist: 401 `invalid_credentials`, all alike.
pub async fn token_record(state: &Context, token: &str, kind: &str) -> Result<(TenantId, Item), ServiceError> {
    let tenant = token_tenant(token).ok_or(ServiceError::InvalidCredentials)?;
    let pk = format!("{kind}#{}", token_hash(token));
    match state.ports.store.get(&Table::tenant(&tenant), &pk, kind).await {
        Ok(Some(item)) => Ok((tenant, item)),
        Ok(None) | Err(StoreError::NoSuchTable) => Err(ServiceError::InvalidCredentials),
        Err(e) => Err(ServiceError::internal(e)),
    }
}

/// Claim a lockout slot for an attempt (its number since the last success), or 423.
pub async fn claim_attempt(state: &Context, lock: &LockKey) -> Result<i64, ServiceError> {
    let now = state.ports.clock.now_secs();
    match lockout::claim(&*state.ports.store, lock, now).await.context("claim_attempt: lockout::claim")? {
        Claim::Granted { n } => Ok(n),
        Claim::Locked { retry_after_secs } => Err(ServiceError::AccountLocked { retry_after_secs }),
    }
}

/// A claimed attempt failed: count it toward the lockout and audit it (and the lock, if this
/// failure set it). `target` is pseudonymous (the email index prefix) for unknown accounts.
pub async fn record_failure(
    state: &Context,
    tenant: Option<&TenantId>,
    lock: &LockKey,
    attempt: i64,
    actor: &str,
    target: &str,
    action: &str,
) -> Result<(), ServiceError> {
    let now = state.ports.clock.now_secs();
    let locked =
        lockout::failed(&*state.ports.store, lock, attempt, now).await.context("record_failure: lockout::failed")?;
    crate::services::metrics::count(crate::services::metrics::LOGIN_FAILED);
    if locked {
        crate::services::metrics::count(crate::services::metrics::ACCOUNT_LOCKED);
    }
    if let Some(t) = tenant {
        audit::record(&state.ports, t, actor, action, target, "failure")
            .await
            .context("record_failure: audit::record")?;
        if locked {
            audit::record(&state.ports, t, actor, "account.locked", target, "success")
                .await
                .context("record_failure: audit::record")?;
        }
    }
    Ok(())
}

/// Reject a password that breaks the policy, rule by rule. `context`: the user's own data,
/// which makes a password guessable.
pub fn enforce_policy(password: &str, context: &[&str]) -> Result<(), ServiceError> {
    let failed = password::check_policy(password, context);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::PasswordPolicy(failed))
    }
}

#[derive(Deserialize)]
pub struct AcceptBody {
    pub token: String,
    pub password: String,
    pub display_name: String,
}

/// `POST /v1/invitations/accept` → 201 `{"user_id"}`.
pub async fn accept_invitation(state: &Context, body: AcceptBody) -> Result<Accepted, ServiceError> {
    let (tenant, invite) = token_record(state, &body.token, "INVITE").await?;
    let table = Table::tenant(&tenant);
    let (pk, sk) = (invite.pk.clone(), "INVITE");
    if invite.s("state") != Some("pending") {
        return Err(ServiceError::Conflict("this invitation has already been used".into()));
    }
    let display_name =
        parse_display_text(&body.display_name, "display_name", 100).map_err(ServiceError::ValidationFailed)?;
    let sealed =
        invite.b("email_enc").ok_or_else(|| ServiceError::internal(anyhow::anyhow!("invitation without email")))?;
    let email_bytes = state
        .tenant_keys
        .open_field(&state.ports, &tenant, &Field { pk: &pk, sk, name: "email" }, sealed)
        .await
        .context("accept_invitation: open the invited email")?;
    let email =
        Email::parse(&String::from_utf8_lossy(&email_bytes)).map_err(|e| ServiceError::internal(anyhow::anyhow!(e)))?;
    enforce_policy(&body.password, &[email.as_str(), &display_name])?;
    let role = invite.s(attr::ROLE).and_then(|r| Role::parse(r).ok()).unwrap_or(Role::Member);
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("accept_invitation: identity_keys.get")?;
    let index = keys.email_index(tenant.as_str(), &email);
    let password_hash =
        password::hash(SecretString::from(body.password)).await.context("accept_invitation: password::hash")?;
    let user_id = users::new_user_id();
    let now = state.ports.clock.now_secs();
    let mut ops = vec![TxOp::Update {
        table: table.clone(),
        pk: pk.clone(),
        sk: sk.into(),
        update: Update::default().set("state", "used").set("used_at", now).set("user_id", user_id.as_str()),
        cond: Cond::And(vec![Cond::Exists, Cond::eq("state", "pending")]),
    }];
    let new = users::NewUser {
        user_id: &user_id,
        email: &email,
        email_index: &index,
        display_name: &display_name,
        role,
        password_hash,
    };
    ops.extend(users::create_ops(state, &tenant, new).await.context("accept_invitation: ops.extend")?);
    match state.ports.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { index }) => {
            // Which condition failed decides the answer; without the index, look again.
            let again = state.ports.store.get(&table, &pk, sk).await.context("accept_invitation: store.get")?;
            return Err(match (index, again) {
                (_, Some(i)) if i.s("state") == Some("used") => {
                    ServiceError::Conflict("this invitation has already been used".into())
                }
                (_, None) => ServiceError::InvalidCredentials,
                _ => ServiceError::Conflict("an account with this email already exists".into()),
            });
        }
        Err(e) => return Err(ServiceError::internal(e)),
    }
    let invitation_id = invite.s("invitation_id").unwrap_or("unknown");
    audit::record(&state.ports, &tenant, &user_id, "invitation.accept", invitation_id, "success")
        .await
        .context("accept_invitation: audit::record")?;
    Ok(Accepted { user_id })
}

#[derive(Deserialize)]
pub struct LoginBody {
    pub tenant: String,
    pub email: String,
    pub password: String,
}

/// `POST /v1/auth/login` → the token pair.
pub async fn login(state: &Context, body: LoginBody) -> Result<SignIn, ServiceError> {
    let pass = SecretString::from(body.password);
    let (Ok(slug), Ok(email)) = (TenantSlug::parse(&body.tenant), Email::parse(&body.email)) else {
        // Nothing can match; spend the same time as a real check anyway.
        password::verify(pass, None).await.context("login: password::verify")?;
        return Err(ServiceError::InvalidCredentials);
    };
    let store = &*state.ports.store;
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("login: identity_keys.get")?;
    let now = state.ports.clock.now_secs();
    let tenant = tenants::id_of_slug(state, slug.as_str()).await?;
    let (lock, index, user) = match &tenant {
        Some(t) => {
            let index = keys.email_index(t.as_str(), &email);
            let user = users::find_by_index(state, t, &index).await.context("login: users::find_by_index")?;
            (LockKey::for_index(Table::tenant(t), &index), index, user)
        }
        None => {
            let index = keys.unknown_tenant_index(slug.as_str(), &email);
            (LockKey::for_index(Table::Platform, &format!("{}#{index}", slug.as_str())), index, None)
        }
    };
    // The hash runs while the attempt's slot is claimed (a durable write), so the login pays
    // for the longer of the two, not both. Its outcome is used only once the claim is granted:
    // a locked attempt learns nothing, in the same time.
    let (claim, verified) = tokio::join!(
        lockout::claim(store, &lock, now),
        password::verify(pass.clone(), user.as_ref().map(|u| u.password_hash.clone()))
    );
    let attempt = match claim.context("login: lockout::claim")? {
        Claim::Granted { n } => n,
        Claim::Locked { retry_after_secs } => {
            if let Some(t) = &tenant {
                let actor = user.as_ref().map(|u| u.user_id.as_str()).unwrap_or("unknown");
                audit::record(&state.ports, t, actor, "login.failure", &index[..16], "locked")
                    .await
                    .context("login: audit::record")?;
            }
            return Err(ServiceError::AccountLocked { retry_after_secs });
        }
    };
    let verified = verified.context("login: password::verify")?;
    let actor = user.as_ref().map(|u| u.user_id.clone()).unwrap_or_else(|| "unknown".into());
    let sso_required = match &tenant {
        Some(t) => crate::services::tenancy::policy::load(state, t).await?.sso_required,
        None => false,
    };
    // Under `sso_required` every refused password login answers `sso_required`, whoever it
    // names (so the answer tells nothing about who exists); failures still count toward the
    // lockout, which guards the admins' break-glass passwords.
    let refused = || if sso_required { ServiceError::SsoRequired } else { ServiceError::InvalidCredentials };
    let (Some(tenant), Some(user)) = (tenant.clone(), user.filter(|u| verified.ok && !u.disabled)) else {
        record_failure(state, tenant.as_ref(), &lock, attempt, &actor, &index[..16], "login.failure").await?;
        return Err(refused());
    };
    if sso_required && user.role != Role::Admin {
        // The right password of a user who must use SSO: not a failure, not a login either.
        lockout::release(store, &lock).await.context("login: lockout::release")?;
        audit::record(&state.ports, &tenant, &user.user_id, "login.failure", &user.user_id, "sso_required")
            .await
            .context("login: audit::record")?;
        return Err(ServiceError::SsoRequired);
    }
    if verified.needs_rehash {
        upgrade_hash(state, &tenant, &user, pass).await?;
    }
    if user.mfa_enabled {
        // The password was right, but the login is not done: its slot is given back and the
        // failures before it stay; each wrong code then counts toward the same lockout, and
        // only the completed login (`finish_login`) resets the count.
        lockout::release(store, &lock).await.context("login: lockout::release")?;
        let token = start_challenge(state, &tenant, &user).await?;
        return Ok(SignIn::MfaRequired { mfa_required: true, mfa_token: token });
    }
    Ok(SignIn::Tokens(finish_login(state, &tenant, &lock, &user, "password").await?))
}

/// Re-hash a correct password at today's parameters (only if nobody changed it meanwhile).
async fn upgrade_hash(
    state: &Context,
    tenant: &crate::domain::types::TenantId,
    user: &users::UserRecord,
    pass: SecretString,
) -> Result<(), ServiceError> {
    let fresh = password::hash(pass).await.context("upgrade_hash: password::hash")?;
    let table = Table::tenant(tenant);
    let cond = Cond::eq(attr::PASSWORD_HASH, user.password_hash.as_str());
    match state
        .ports
        .store
        .update(
            &table,
            users::USERS_PK,
            &users::user_sk(&user.user_id),
            Update::default().set(attr::PASSWORD_HASH, fresh),
            cond,
        )
        .await
    {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(ServiceError::internal(e)),
    }
}

#[derive(Deserialize)]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// `POST /v1/auth/refresh` → a new token pair; the old refresh token is spent.
pub async fn refresh(state: &Context, body: RefreshBody) -> Result<TokenPair, ServiceError> {
    Ok(sessions::refresh(state, &body.refresh_token).await?.into())
}

/// `POST /v1/auth/logout` → 204; the session dies at once.
pub async fn logout(state: &Context, p: &Principal) -> Result<(), ServiceError> {
    sessions::revoke_session(state, &p.tenant, &p.session_id, &p.user_id, "session.logout").await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct ForgotBody {
    pub tenant: String,
    pub email: String,
}

/// `POST /v1/auth/password/forgot` → 202 always: the account's hourly mail budget is charged
/// (429 once spent, whether or not the account exists) and the mail is queued; the worker
/// sends a 1-hour reset link only if the account exists. Known and unknown addresses cost
/// this route the same work.
pub async fn forgot_password(state: &Context, body: ForgotBody) -> Result<(), ServiceError> {
    let (Ok(slug), Ok(email)) = (TenantSlug::parse(&body.tenant), Email::parse(&body.email)) else {
        return Ok(());
    };
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("forgot_password: identity_keys.get")?;
    let Some(tenant) = tenants::id_of_slug(state, slug.as_str()).await? else {
        // An unknown organisation answers like a known one, budget included.
        let index = format!("{}#{}", slug.as_str(), keys.unknown_tenant_index(slug.as_str(), &email));
        return account_mail::claim_budget(state, &Table::Platform, &index).await;
    };
    let index = keys.email_index(tenant.as_str(), &email);
    account_mail::claim_budget(state, &Table::tenant(&tenant), &index).await?;
    if crate::services::tenancy::policy::load(state, &tenant).await?.sso_required {
        // Only admins keep a password (break-glass); everyone else, known or not, is told
        // to use SSO.
        let user = users::find_by_index(state, &tenant, &index).await.context("forgot_password: find_by_index")?;
        if !user.is_some_and(|u| u.role == Role::Admin && !u.disabled) {
            return Err(ServiceError::SsoRequired);
        }
    }
    let mail = account_mail::AccountMail::PasswordReset { tenant_id: tenant.as_str().into(), email_index: index };
    account_mail::enqueue(state, mail).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct ResetBody {
    pub token: String,
    pub new_password: String,
}

/// `POST /v1/auth/password/reset` → 204; revokes every session and clears the lockout.
pub async fn reset_password(state: &Context, body: ResetBody) -> Result<(), ServiceError> {
    let (tenant, reset) = token_record(state, &body.token, "RESET").await?;
    if reset.s("state") != Some("pending") {
        return Err(ServiceError::InvalidCredentials);
    }
    let table = Table::tenant(&tenant);
    let pk = reset.pk.clone();
    let user_id = reset.s("user_id").unwrap_or_default();
    let user = users::get(state, &tenant, user_id)
        .await
        .context("reset_password: users::get")?
        .ok_or(ServiceError::InvalidCredentials)?;
    if user.role != Role::Admin && crate::services::tenancy::policy::load(state, &tenant).await?.sso_required {
        return Err(ServiceError::SsoRequired);
    }
    let email = user.email(state, &tenant).await.context("reset_password: user.email")?;
    enforce_policy(&body.new_password, &[&email])?;
    let fresh =
        password::hash(SecretString::from(body.new_password)).await.context("reset_password: password::hash")?;
    let now = state.ports.clock.now_secs();
    let ops = vec![
        TxOp::Update {
            table: table.clone(),
            pk: pk.clone(),
            sk: "RESET".into(),
            update: Update::default().set("state", "used").set("used_at", now),
            cond: Cond::And(vec![Cond::Exists, Cond::eq("state", "pending")]),
        },
        TxOp::Update {
            table: table.clone(),
            pk: users::USERS_PK.into(),
            sk: users::user_sk(&user.user_id),
            update: Update::default()
                .set(attr::PASSWORD_HASH, fresh)
                .set(attr::PASSWORD_CHANGE_REQUIRED, false)
                .add(attr::SESSION_EPOCH, 1),
            cond: Cond::Exists,
        },
    ];
    state.commit(ops, ServiceError::InvalidCredentials).await?;
    lockout::reset(&*state.ports.store, &LockKey::for_index(table, &user.email_index))
        .await
        .context("reset_password: lockout::reset")?;
    audit::record(&state.ports, &tenant, &user.user_id, "password.reset", &user.user_id, "success")
        .await
        .context("reset_password: audit::record")?;
    Ok(())
}

pub fn user_lock(tenant: &TenantId, user: &UserRecord) -> LockKey {
    LockKey::for_index(Table::tenant(tenant), &user.email_index)
}

pub fn codes_pk(user_id: &str) -> String {
    format!("RCODES#{user_id}")
}

/// Delete every recovery code of a user (regeneration, MFA off).
pub async fn delete_recovery_codes(state: &Context, tenant: &TenantId, user_id: &str) -> Result<(), ServiceError> {
    delete_partition(&*state.ports.store, &Table::tenant(tenant), &codes_pk(user_id), "")
        .await
        .context("delete_recovery_codes: delete_partition")?;
    Ok(())
}

/// Re-authentication inside a session, before a change to the account's factors or password:
/// the current password and, when `with_code` and the user has MFA on, a current second
/// factor (TOTP or recovery code). It takes one lockout slot like a login attempt: a wrong
/// factor counts toward the lockout (audited as `action` failed), right ones give it back.
pub async fn reauthenticate(
    state: &Context,
    p: &Principal,
    password: String,
    code: Option<&str>,
    with_code: bool,
    action: &str,
) -> Result<(), ServiceError> {
    let need_code = with_code && p.user.mfa_enabled;
    if need_code && code.is_none() {
        return Err(ServiceError::InvalidRequest("MFA is on: a current `code` is required".into()));
    }
    let lock = user_lock(&p.tenant, &p.user);
    let attempt = claim_attempt(state, &lock).await?;
    let mut ok = password::verify(SecretString::from(password), Some(p.user.password_hash.clone()))
        .await
        .context("reauthenticate: password::verify")?
        .ok;
    if ok && need_code {
        ok = second_factor_ok(state, &p.tenant, &p.user, code.unwrap_or_default()).await?;
    }
    if !ok {
        record_failure(state, Some(&p.tenant), &lock, attempt, &p.user_id, &p.user_id, action).await?;
        return Err(ServiceError::InvalidCredentials);
    }
    lockout::release(&*state.ports.store, &lock).await.context("reauthenticate: lockout::release").map_err(Into::into)
}

/// Issue the short-lived, single-purpose `mfa_token` of a login whose password was right.
pub async fn start_challenge(state: &Context, tenant: &TenantId, user: &UserRecord) -> Result<String, ServiceError> {
    let token = tenants::issue_token(tenant);
    let now = state.ports.clock.now_secs();
    let item = Item::new(format!("MFA#{}", token.hash), "MFA")
        .with("user_id", user.user_id.as_str())
        .with("failures", 0i64)
        .with(EXPIRES_AT, now + mfa::CHALLENGE_TTL_SECS);
    state.ports.store.put(&Table::tenant(tenant), item, Cond::NotExists).await.context("start_challenge: store.put")?;
    Ok(token.token)
}

/// Check a second factor: a TOTP code (each time step accepted once, enforced by a
/// conditional write, so a replay fails even in parallel) or an unused recovery code.
pub async fn second_factor_ok(
    state: &Context,
    tenant: &TenantId,
    user: &UserRecord,
    code: &str,
) -> Result<bool, ServiceError> {
    let now = state.ports.clock.now_secs();
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let Some(secret) = user.open_bytes(state, tenant, "totp").await.context("second_factor_ok: user.open_bytes")?
        else {
            return Ok(false);
        };
        let Some(step) = mfa::matching_step(&secret, code, now) else { return Ok(false) };
        let step = step as i64;
        let cond = Cond::And(vec![
            Cond::eq(attr::MFA_ENABLED, true),
            Cond::Or(vec![Cond::Missing(attr::TOTP_LAST_STEP.into()), Cond::lt(attr::TOTP_LAST_STEP, step)]),
        ]);
        let sk = users::user_sk(&user.user_id);
        return match state
            .ports
            .store
            .update(
                &Table::tenant(tenant),
                users::USERS_PK,
                &sk,
                Update::default().set(attr::TOTP_LAST_STEP, step),
                cond,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(ServiceError::internal(e)),
        };
    }
    let Some(code) = mfa::canonical_recovery_code(code) else { return Ok(false) };
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("second_factor_ok: identity_keys.get")?;
    let hash = keys.recovery_code_hash(tenant.as_str(), &code);
    match state.ports.store.delete(&Table::tenant(tenant), &codes_pk(&user.user_id), &hash, Cond::Exists).await {
        Ok(()) => {
            audit::record(&state.ports, tenant, &user.user_id, "mfa.recovery_code_used", &user.user_id, "success")
                .await
                .context("second_factor_ok: audit::record")?;
            Ok(true)
        }
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(ServiceError::internal(e)),
    }
}

#[derive(Deserialize)]
pub struct MfaLoginBody {
    pub mfa_token: String,
    pub code: String,
}

/// `POST /v1/auth/mfa` `{"mfa_token", "code"}` → the token pair. A wrong code counts toward
/// the lockout; the `mfa_token` dies after 5 wrong codes or 5 minutes.
pub async fn complete_login(state: &Context, body: MfaLoginBody) -> Result<TokenPair, ServiceError> {
    let (tenant, challenge) = token_record(state, &body.mfa_token, "MFA").await?;
    let pk = challenge.pk.clone();
    let user_id = challenge.s("user_id").unwrap_or_default();
    let user = users::get(state, &tenant, user_id)
        .await
        .context("complete_login: users::get")?
        .ok_or(ServiceError::InvalidCredentials)?;
    if user.disabled {
        return Err(ServiceError::InvalidCredentials);
    }
    let lock = user_lock(&tenant, &user);
    let attempt = claim_attempt(state, &lock).await?;
    if !second_factor_ok(state, &tenant, &user, &body.code).await? {
        record_failure(state, Some(&tenant), &lock, attempt, &user.user_id, &user.user_id, "login.mfa_failure").await?;
        let failed = state
            .ports
            .store
            .update(&Table::tenant(&tenant), &pk, "MFA", Update::default().add("failures", 1), Cond::Exists)
            .await;
        if let Ok(item) = failed {
            if item.n("failures").unwrap_or(0) >= mfa::CHALLENGE_MAX_FAILURES {
                let _ = state.ports.store.delete(&Table::tenant(&tenant), &pk, "MFA", Cond::Always).await;
            }
        }
        return Err(ServiceError::InvalidCredentials);
    }
    // The challenge is single use: only one completion can delete it.
    match state.ports.store.delete(&Table::tenant(&tenant), &pk, "MFA", Cond::Exists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(ServiceError::InvalidCredentials),
        Err(e) => return Err(ServiceError::internal(e)),
    }
    finish_login(state, &tenant, &lock, &user, "mfa").await
}

#[derive(Deserialize)]
pub struct RecoverBody {
    pub tenant: String,
    pub email: String,
    pub answers: Vec<String>,
}

/// `POST /v1/auth/mfa/recover` → 202 always. The account's hourly mail budget is charged
/// first (429 once spent, known or not). Both answers right: a single-use, one-hour recovery
/// link is queued for the user's email. Wrong answers count toward the lockout; right ones
/// give their slot back but clear nothing (only a complete login does).
pub async fn recover(state: &Context, body: RecoverBody) -> Result<(), ServiceError> {
    if body.answers.len() != 2 {
        return Err(ServiceError::InvalidRequest("answers must hold exactly two answers".into()));
    }
    let answers: Vec<SecretString> =
        body.answers.iter().map(|a| SecretString::from(mfa::normalise_answer(a))).collect();
    let (Ok(slug), Ok(email)) = (TenantSlug::parse(&body.tenant), Email::parse(&body.email)) else {
        for a in answers {
            password::verify(a, None).await.context("recover: password::verify")?;
        }
        return Ok(());
    };
    // Known or not, locked or not: the same budget charge, the same lockout claim and both
    // answers hashed, so neither the answer nor its time tells whether the account exists.
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("recover: identity_keys.get")?;
    let tenant = tenants::id_of_slug(state, slug.as_str()).await?;
    let (lock, user) = match &tenant {
        Some(t) => {
            let index = keys.email_index(t.as_str(), &email);
            account_mail::claim_budget(state, &Table::tenant(t), &index).await?;
            let user = users::find_by_index(state, t, &index).await.context("recover: users::find_by_index")?;
            (LockKey::for_index(Table::tenant(t), &index), user.filter(|u| !u.disabled))
        }
        None => {
            let index = format!("{}#{}", slug.as_str(), keys.unknown_tenant_index(slug.as_str(), &email));
            account_mail::claim_budget(state, &Table::Platform, &index).await?;
            (LockKey::for_index(Table::Platform, &index), None)
        }
    };
    let now = state.ports.clock.now_secs();
    let claim = lockout::claim(&*state.ports.store, &lock, now).await.context("recover: lockout::claim")?;
    let hashes = user.as_ref().and_then(|u| u.answer_hashes());
    let mut right = hashes.is_some();
    let stored = hashes.map(|(a, b)| vec![Some(a), Some(b)]).unwrap_or_else(|| vec![None, None]);
    for (answer, hash) in answers.into_iter().zip(stored) {
        right &= password::verify(answer, hash).await.context("recover: password::verify")?.ok;
    }
    let (Some(tenant), Some(user)) = (tenant, user) else {
        if let Claim::Granted { n } = claim {
            record_failure(state, None, &lock, n, "unknown", "unknown", "mfa.recover_request").await?;
        }
        return Ok(());
    };
    let attempt = match claim {
        Claim::Granted { n } => n,
        Claim::Locked { .. } => {
            audit::record(&state.ports, &tenant, &user.user_id, "mfa.recover_request", &user.user_id, "locked")
                .await
                .context("recover: audit::record")?;
            return Ok(());
        }
    };
    if !right {
        record_failure(state, Some(&tenant), &lock, attempt, &user.user_id, &user.user_id, "mfa.recover_request")
            .await?;
        return Ok(());
    }
    // Right answers are not a login: the failures before them stay counted.
    lockout::release(&*state.ports.store, &lock).await.context("recover: lockout::release")?;
    let mail = account_mail::AccountMail::MfaRecovery { tenant_id: tenant.as_str().into(), user_id: user.user_id };
    account_mail::enqueue(state, mail).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct RecoverConfirmBody {
    pub token: String,
    pub password: String,
}

/// `POST /v1/auth/mfa/recover/confirm` `{"token", "password"}` → the token pair; MFA is off
/// and must be enrolled again.
pub async fn recover_confirm(state: &Context, body: RecoverConfirmBody) -> Result<TokenPair, ServiceError> {
    let (tenant, link) = token_record(state, &body.token, "MFARECOVER").await?;
    if link.s("state") != Some("pending") {
        return Err(ServiceError::InvalidCredentials);
    }
    let pk = link.pk.clone();
    let user = users::get(state, &tenant, link.s("user_id").unwrap_or_default())
        .await
        .context("recover_confirm: users::get")?
        .filter(|u| !u.disabled)
        .ok_or(ServiceError::InvalidCredentials)?;
    let lock = user_lock(&tenant, &user);
    let attempt = claim_attempt(state, &lock).await?;
    let ok = password::verify(SecretString::from(body.password), Some(user.password_hash.clone()))
        .await
        .context("recover_confirm: password::verify")?
        .ok;
    if !ok {
        record_failure(state, Some(&tenant), &lock, attempt, &user.user_id, &user.user_id, "mfa.recover").await?;
        return Err(ServiceError::InvalidCredentials);
    }
    let ops = vec![
        TxOp::Update {
            table: Table::tenant(&tenant),
            pk: pk.clone(),
            sk: "MFARECOVER".into(),
            update: Update::default().set("state", "used"),
            cond: Cond::And(vec![Cond::Exists, Cond::eq("state", "pending")]),
        },
        TxOp::Update {
            table: Table::tenant(&tenant),
            pk: users::USERS_PK.into(),
            sk: users::user_sk(&user.user_id),
            // The lost authenticator's device may still hold a session: every session ends,
            // and the login below starts the only one.
            update: Update::default()
                .set(attr::MFA_ENABLED, false)
                .remove(attr::TOTP_ENC)
                .remove(attr::TOTP_PENDING_ENC)
                .add(attr::SESSION_EPOCH, 1),
            cond: Cond::Exists,
        },
    ];
    state.commit(ops, ServiceError::InvalidCredentials).await?;
    delete_recovery_codes(state, &tenant, &user.user_id).await?;
    audit::record(&state.ports, &tenant, &user.user_id, "mfa.recover", &user.user_id, "success")
        .await
        .context("recover_confirm: audit::record")?;
    let user = users::get(state, &tenant, &user.user_id)
        .await
        .context("recover_confirm: users::get")?
        .ok_or(ServiceError::InvalidCredentials)?;
    finish_login(state, &tenant, &lock, &user, "mfa_recovery").await
}
