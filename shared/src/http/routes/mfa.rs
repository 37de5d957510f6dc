//! Multi-factor authentication and recovery (API.md): TOTP enrolment and removal, security
//! questions, the second step of a login, and recovery by email + security questions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{claim_attempt, finish_login, record_failure, token_record};
use crate::domain::types::{parse_display_text, Email, TenantId, TenantSlug};
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::ports::store::{delete_partition, AttrValue, Cond, Item, StoreError, Table, TxOp, Update, EXPIRES_AT};
use crate::services::identity::account_mail;
use crate::services::identity::lockout::{self, Claim, LockKey};
use crate::services::identity::mfa;
use crate::services::identity::password;
use crate::services::identity::users::{self, UserRecord};
use crate::services::tenancy::audit;
use crate::services::tenancy::tenants;

fn table(t: &TenantId) -> Table {
    Table::Tenant(t.as_str().into())
}

fn user_lock(tenant: &TenantId, user: &UserRecord) -> LockKey {
    LockKey::for_index(table(tenant), &user.email_index)
}

fn codes_pk(user_id: &str) -> String {
    format!("RCODES#{user_id}")
}

/// Delete every recovery code of a user (regeneration, MFA off).
async fn delete_recovery_codes(state: &AppState, tenant: &TenantId, user_id: &str) -> Result<(), ApiError> {
    delete_partition(&*state.ports.store, &table(tenant), &codes_pk(user_id), "").await.map_err(ApiError::internal)?;
    Ok(())
}

/// Re-authentication inside a session, before a change to the account's factors or password:
/// the current password and, when `with_code` and the user has MFA on, a current second
/// factor (TOTP or recovery code). It takes one lockout slot like a login attempt: a wrong
/// factor counts toward the lockout (audited as `action` failed), right ones give it back.
pub(crate) async fn reauthenticate(
    state: &AppState,
    p: &Principal,
    password: String,
    code: Option<&str>,
    with_code: bool,
    action: &str,
) -> Result<(), ApiError> {
    let need_code = with_code && p.user.mfa_enabled;
    if need_code && code.is_none() {
        return Err(ApiError::InvalidRequest("MFA is on: a current `code` is required".into()));
    }
    let lock = user_lock(&p.tenant, &p.user);
    let attempt = claim_attempt(state, &lock).await?;
    let mut ok = password::verify(SecretString::from(password), Some(p.user.password_hash.clone()))
        .await
        .map_err(ApiError::Internal)?
        .ok;
    if ok && need_code {
        ok = second_factor_ok(state, &p.tenant, &p.user, code.unwrap_or_default()).await?;
    }
    if !ok {
        record_failure(state, Some(&p.tenant), &lock, attempt, &p.user_id, &p.user_id, action).await?;
        return Err(ApiError::InvalidCredentials);
    }
    lockout::release(&*state.ports.store, &lock).await.map_err(ApiError::internal)
}

#[derive(Deserialize)]
pub struct EnrolBody {
    password: String,
}

/// `POST /v1/me/mfa/totp` `{"password"}` → `{"secret", "otpauth_uri"}`; MFA is on only after
/// confirmation.
pub async fn enrol(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<EnrolBody>,
) -> Result<Json<Value>, ApiError> {
    if p.user.mfa_enabled {
        return Err(ApiError::Conflict("MFA is already on; turn it off before enrolling again".into()));
    }
    reauthenticate(&state, &p, body.password, None, false, "mfa.enrol").await?;
    let secret = mfa::new_secret();
    let (_, tenant_name) = tenants::meta_of(&state, &p.tenant).await?;
    let email = p.user.email(&state, &p.tenant).await.map_err(ApiError::Internal)?;
    let (base32, uri) = mfa::enrolment(&secret, &tenant_name, &email).map_err(ApiError::Internal)?;
    let sealed =
        users::seal(&state, &p.tenant, &p.user_id, "totp_pending", &secret).await.map_err(ApiError::Internal)?;
    let set = Update::default().set("totp_pending_enc", sealed);
    let sk = users::user_sk(&p.user_id);
    state
        .ports
        .store
        .update(&table(&p.tenant), users::USERS_PK, &sk, set, Cond::Exists)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "secret": base32, "otpauth_uri": uri })))
}

#[derive(Deserialize)]
pub struct CodeBody {
    code: String,
}

/// `POST /v1/me/mfa/totp/confirm` `{"code"}` → `{"recovery_codes": [10]}`; MFA is on.
pub async fn confirm(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<Value>, ApiError> {
    let pending = p
        .user
        .open_bytes(&state, &p.tenant, "totp_pending")
        .await
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::Conflict("start the enrolment first (POST /v1/me/mfa/totp)".into()))?;
    let now = state.ports.clock.now_secs();
    let Some(step) = mfa::matching_step(&pending, body.code.trim(), now) else {
        audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.enable", &p.user_id, "failure")
            .await
            .map_err(ApiError::Internal)?;
        return Err(ApiError::InvalidCredentials);
    };
    let totp_enc = users::seal(&state, &p.tenant, &p.user_id, "totp", &pending).await.map_err(ApiError::Internal)?;
    let keys = state.identity_keys.get(&*state.ports.secrets).await.map_err(ApiError::Internal)?;
    let codes = mfa::new_recovery_codes();
    delete_recovery_codes(&state, &p.tenant, &p.user_id).await?;
    let mut ops = vec![TxOp::Update {
        table: table(&p.tenant),
        pk: users::USERS_PK.into(),
        sk: users::user_sk(&p.user_id),
        update: Update::default()
            .set("mfa_enabled", true)
            .set("totp_enc", totp_enc)
            .set("totp_last_step", step as i64)
            .remove("totp_pending_enc"),
        // A code is used once: the step must be newer than any accepted before.
        cond: Cond::And(vec![
            Cond::Exists,
            Cond::eq("mfa_enabled", false),
            Cond::Or(vec![Cond::Missing("totp_last_step".into()), Cond::lt("totp_last_step", step as i64)]),
        ]),
    }];
    for code in &codes {
        let item = Item::new(codes_pk(&p.user_id), keys.recovery_code_hash(p.tenant.as_str(), code));
        ops.push(TxOp::Put { table: table(&p.tenant), item, cond: Cond::NotExists });
    }
    match state.ports.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { .. }) => return Err(ApiError::InvalidCredentials),
        Err(e) => return Err(ApiError::internal(e)),
    }
    audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.enable", &p.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

#[derive(Deserialize)]
pub struct ReauthBody {
    password: String,
    code: Option<String>,
}

/// `DELETE /v1/me/mfa/totp` `{"password", "code"}` → 204; refused while the tenant requires MFA.
pub async fn disable(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<ReauthBody>,
) -> Result<StatusCode, ApiError> {
    if crate::services::tenancy::policy::load(&state, &p.tenant).await?.mfa_required {
        return Err(ApiError::Forbidden);
    }
    reauthenticate(&state, &p, body.password, body.code.as_deref(), true, "mfa.disable").await?;
    turn_off(&state, &p.tenant, &p.user_id).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.disable", &p.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/users/{user_id}/mfa/reset` → 204: TOTP, recovery codes and security answers
/// go, and every session of the user is revoked (a lost phone). Never one's own account: an
/// admin whose session was stolen must not be able to strip their own factors this way.
pub async fn admin_reset(
    State(state): State<AppState>,
    p: Principal,
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let target = crate::http::routes::admin::target(&state, &p.tenant, path).await?;
    if target.user_id == p.user_id {
        return Err(ApiError::Forbidden);
    }
    let off = Update::default()
        .set("mfa_enabled", false)
        .remove("totp_enc")
        .remove("totp_pending_enc")
        .remove("security_questions_enc")
        .remove("answer_hashes")
        .add("session_epoch", 1);
    let sk = users::user_sk(&target.user_id);
    match state.ports.store.update(&table(&p.tenant), users::USERS_PK, &sk, off, Cond::Exists).await {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => return Err(ApiError::NotFound),
        Err(e) => return Err(ApiError::internal(e)),
    }
    delete_recovery_codes(&state, &p.tenant, &target.user_id).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.admin_reset", &target.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn turn_off(state: &AppState, tenant: &TenantId, user_id: &str) -> Result<(), ApiError> {
    let off = Update::default().set("mfa_enabled", false).remove("totp_enc").remove("totp_pending_enc");
    let sk = users::user_sk(user_id);
    state
        .ports
        .store
        .update(&table(tenant), users::USERS_PK, &sk, off, Cond::Exists)
        .await
        .map_err(ApiError::internal)?;
    delete_recovery_codes(state, tenant, user_id).await
}

#[derive(Deserialize)]
pub struct QuestionBody {
    question: String,
    answer: String,
}

#[derive(Deserialize)]
pub struct QuestionsBody {
    password: String,
    code: Option<String>,
    questions: Vec<QuestionBody>,
}

/// `PUT /v1/me/security-questions` `{"password", "code"?, "questions"}` → 204. Questions
/// encrypted; answers normalised and stored only as argon2id hashes.
pub async fn set_security_questions(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<QuestionsBody>,
) -> Result<StatusCode, ApiError> {
    if body.questions.len() != 2 {
        return Err(ApiError::ValidationFailed("exactly two questions are required".into()));
    }
    let mut questions = Vec::new();
    let mut answers = Vec::new();
    for q in &body.questions {
        questions.push(parse_display_text(&q.question, "question", 200).map_err(ApiError::ValidationFailed)?);
        let answer = mfa::normalise_answer(&q.answer);
        if answer.chars().count() < 2 || answer.chars().count() > 200 {
            return Err(ApiError::ValidationFailed("each answer must be 2..=200 characters".into()));
        }
        answers.push(SecretString::from(answer));
    }
    if questions[0].to_lowercase() == questions[1].to_lowercase() {
        return Err(ApiError::ValidationFailed("the two questions must differ".into()));
    }
    reauthenticate(&state, &p, body.password, body.code.as_deref(), true, "mfa.security_questions").await?;
    let mut hashes = Vec::new();
    for answer in answers {
        hashes.push(AttrValue::S(password::hash(answer).await.map_err(ApiError::Internal)?));
    }
    let sealed = users::seal(&state, &p.tenant, &p.user_id, "security_questions", &mfa::encode_questions(&questions))
        .await
        .map_err(ApiError::Internal)?;
    let set = Update::default().set("security_questions_enc", sealed).set("answer_hashes", AttrValue::L(hashes));
    let sk = users::user_sk(&p.user_id);
    state
        .ports
        .store
        .update(&table(&p.tenant), users::USERS_PK, &sk, set, Cond::Exists)
        .await
        .map_err(ApiError::internal)?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.security_questions", &p.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issue the short-lived, single-purpose `mfa_token` of a login whose password was right.
pub(crate) async fn start_challenge(
    state: &AppState,
    tenant: &TenantId,
    user: &UserRecord,
) -> Result<String, ApiError> {
    let token = tenants::issue_token(tenant);
    let now = state.ports.clock.now_secs();
    let item = Item::new(format!("MFA#{}", token.hash), "MFA")
        .with("user_id", user.user_id.as_str())
        .with("failures", 0i64)
        .with(EXPIRES_AT, now + mfa::CHALLENGE_TTL_SECS);
    state.ports.store.put(&table(tenant), item, Cond::NotExists).await.map_err(ApiError::internal)?;
    Ok(token.token)
}

/// Check a second factor: a TOTP code (each time step accepted once, enforced by a
/// conditional write, so a replay fails even in parallel) or an unused recovery code.
async fn second_factor_ok(
    state: &AppState,
    tenant: &TenantId,
    user: &UserRecord,
    code: &str,
) -> Result<bool, ApiError> {
    let now = state.ports.clock.now_secs();
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let Some(secret) = user.open_bytes(state, tenant, "totp").await.map_err(ApiError::Internal)? else {
            return Ok(false);
        };
        let Some(step) = mfa::matching_step(&secret, code, now) else { return Ok(false) };
        let step = step as i64;
        let cond = Cond::And(vec![
            Cond::eq("mfa_enabled", true),
            Cond::Or(vec![Cond::Missing("totp_last_step".into()), Cond::lt("totp_last_step", step)]),
        ]);
        let sk = users::user_sk(&user.user_id);
        return match state
            .ports
            .store
            .update(&table(tenant), users::USERS_PK, &sk, Update::default().set("totp_last_step", step), cond)
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(ApiError::internal(e)),
        };
    }
    let Some(code) = mfa::canonical_recovery_code(code) else { return Ok(false) };
    let keys = state.identity_keys.get(&*state.ports.secrets).await.map_err(ApiError::Internal)?;
    let hash = keys.recovery_code_hash(tenant.as_str(), &code);
    match state.ports.store.delete(&table(tenant), &codes_pk(&user.user_id), &hash, Cond::Exists).await {
        Ok(()) => {
            audit::record(&state.ports, tenant, &user.user_id, "mfa.recovery_code_used", &user.user_id, "success")
                .await
                .map_err(ApiError::Internal)?;
            Ok(true)
        }
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(ApiError::internal(e)),
    }
}

#[derive(Deserialize)]
pub struct MfaLoginBody {
    mfa_token: String,
    code: String,
}

/// `POST /v1/auth/mfa` `{"mfa_token", "code"}` → the token pair. A wrong code counts toward
/// the lockout; the `mfa_token` dies after 5 wrong codes or 5 minutes.
pub async fn complete_login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MfaLoginBody>,
) -> Result<Json<Value>, ApiError> {
    let (tenant, challenge) = token_record(&state, &body.mfa_token, "MFA").await?;
    let pk = challenge.pk.clone();
    let user_id = challenge.s("user_id").unwrap_or_default();
    let user =
        users::get(&state, &tenant, user_id).await.map_err(ApiError::Internal)?.ok_or(ApiError::InvalidCredentials)?;
    if user.disabled {
        return Err(ApiError::InvalidCredentials);
    }
    let lock = user_lock(&tenant, &user);
    let attempt = claim_attempt(&state, &lock).await?;
    if !second_factor_ok(&state, &tenant, &user, &body.code).await? {
        record_failure(&state, Some(&tenant), &lock, attempt, &user.user_id, &user.user_id, "login.mfa_failure")
            .await?;
        let failed = state
            .ports
            .store
            .update(&table(&tenant), &pk, "MFA", Update::default().add("failures", 1), Cond::Exists)
            .await;
        if let Ok(item) = failed {
            if item.n("failures").unwrap_or(0) >= mfa::CHALLENGE_MAX_FAILURES {
                let _ = state.ports.store.delete(&table(&tenant), &pk, "MFA", Cond::Always).await;
            }
        }
        return Err(ApiError::InvalidCredentials);
    }
    // The challenge is single use: only one completion can delete it.
    match state.ports.store.delete(&table(&tenant), &pk, "MFA", Cond::Exists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(ApiError::InvalidCredentials),
        Err(e) => return Err(ApiError::internal(e)),
    }
    finish_login(&state, &tenant, &lock, &user, "mfa").await
}

#[derive(Deserialize)]
pub struct RecoverBody {
    tenant: String,
    email: String,
    answers: Vec<String>,
}

/// `POST /v1/auth/mfa/recover` → 202 always. The account's hourly mail budget is charged
/// first (429 once spent, known or not). Both answers right: a single-use, one-hour recovery
/// link is queued for the user's email. Wrong answers count toward the lockout; right ones
/// give their slot back but clear nothing (only a complete login does).
pub async fn recover(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RecoverBody>,
) -> Result<StatusCode, ApiError> {
    if body.answers.len() != 2 {
        return Err(ApiError::InvalidRequest("answers must hold exactly two answers".into()));
    }
    let found = async {
        let (Ok(slug), Ok(email)) = (TenantSlug::parse(&body.tenant), Email::parse(&body.email)) else {
            return Ok(None);
        };
        let Some(tenant) = tenants::id_of_slug(&state, slug.as_str()).await? else { return Ok(None) };
        let keys = state.identity_keys.get(&*state.ports.secrets).await.map_err(ApiError::Internal)?;
        let index = keys.email_index(tenant.as_str(), &email);
        account_mail::claim_budget(&state, &table(&tenant), &index).await?;
        let user = users::find_by_index(&state, &tenant, &index).await.map_err(ApiError::Internal)?;
        Ok::<_, ApiError>(user.filter(|u| !u.disabled).map(|u| (tenant, u)))
    }
    .await?;
    let answers: Vec<SecretString> =
        body.answers.iter().map(|a| SecretString::from(mfa::normalise_answer(a))).collect();
    let Some((tenant, user)) = found else {
        // Same work as a real check, same answer.
        for a in answers {
            password::verify(a, None).await.map_err(ApiError::Internal)?;
        }
        return Ok(StatusCode::ACCEPTED);
    };
    let lock = user_lock(&tenant, &user);
    let now = state.ports.clock.now_secs();
    let attempt = match lockout::claim(&*state.ports.store, &lock, now).await.map_err(ApiError::internal)? {
        Claim::Granted { n } => n,
        Claim::Locked { .. } => {
            audit::record(&state.ports, &tenant, &user.user_id, "mfa.recover_request", &user.user_id, "locked")
                .await
                .map_err(ApiError::Internal)?;
            return Ok(StatusCode::ACCEPTED);
        }
    };
    let hashes = user.answer_hashes();
    let mut right = hashes.is_some();
    let stored = hashes.map(|(a, b)| vec![Some(a), Some(b)]).unwrap_or_else(|| vec![None, None]);
    for (answer, hash) in answers.into_iter().zip(stored) {
        right &= password::verify(answer, hash).await.map_err(ApiError::Internal)?.ok;
    }
    if !right {
        record_failure(&state, Some(&tenant), &lock, attempt, &user.user_id, &user.user_id, "mfa.recover_request")
            .await?;
        return Ok(StatusCode::ACCEPTED);
    }
    // Right answers are not a login: the failures before them stay counted.
    lockout::release(&*state.ports.store, &lock).await.map_err(ApiError::internal)?;
    let mail = account_mail::AccountMail::MfaRecovery { tenant_id: tenant.as_str().into(), user_id: user.user_id };
    account_mail::enqueue(&state, mail).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
pub struct RecoverConfirmBody {
    token: String,
    password: String,
}

/// `POST /v1/auth/mfa/recover/confirm` `{"token", "password"}` → the token pair; MFA is off
/// and must be enrolled again.
pub async fn recover_confirm(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RecoverConfirmBody>,
) -> Result<Json<Value>, ApiError> {
    let (tenant, link) = token_record(&state, &body.token, "MFARECOVER").await?;
    if link.s("state") != Some("pending") {
        return Err(ApiError::InvalidCredentials);
    }
    let pk = link.pk.clone();
    let user = users::get(&state, &tenant, link.s("user_id").unwrap_or_default())
        .await
        .map_err(ApiError::Internal)?
        .filter(|u| !u.disabled)
        .ok_or(ApiError::InvalidCredentials)?;
    let lock = user_lock(&tenant, &user);
    let attempt = claim_attempt(&state, &lock).await?;
    let ok = password::verify(SecretString::from(body.password), Some(user.password_hash.clone()))
        .await
        .map_err(ApiError::Internal)?
        .ok;
    if !ok {
        record_failure(&state, Some(&tenant), &lock, attempt, &user.user_id, &user.user_id, "mfa.recover").await?;
        return Err(ApiError::InvalidCredentials);
    }
    let ops = vec![
        TxOp::Update {
            table: table(&tenant),
            pk: pk.clone(),
            sk: "MFARECOVER".into(),
            update: Update::default().set("state", "used"),
            cond: Cond::And(vec![Cond::Exists, Cond::eq("state", "pending")]),
        },
        TxOp::Update {
            table: table(&tenant),
            pk: users::USERS_PK.into(),
            sk: users::user_sk(&user.user_id),
            update: Update::default().set("mfa_enabled", false).remove("totp_enc").remove("totp_pending_enc"),
            cond: Cond::Exists,
        },
    ];
    match state.ports.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCancelled { .. }) => return Err(ApiError::InvalidCredentials),
        Err(e) => return Err(ApiError::internal(e)),
    }
    delete_recovery_codes(&state, &tenant, &user.user_id).await?;
    audit::record(&state.ports, &tenant, &user.user_id, "mfa.recover", &user.user_id, "success")
        .await
        .map_err(ApiError::Internal)?;
    let user = users::get(&state, &tenant, &user.user_id)
        .await
        .map_err(ApiError::Internal)?
        .ok_or(ApiError::InvalidCredentials)?;
    finish_login(&state, &tenant, &lock, &user, "mfa_recovery").await
}
