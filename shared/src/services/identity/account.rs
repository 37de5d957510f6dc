//! The caller's own account: profile, password change, and the factors (TOTP enrolment and
//! removal, recovery codes, security questions), each change behind re-authentication; and
//! the admin's MFA reset of another user.

use crate::services::identity::users::attr;
use anyhow::Context as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::domain::types::{parse_display_text, TenantId, UserId};
use crate::ports::store::{AttrValue, Cond, Item, StoreError, Table, TxOp, Update};
use crate::services::context::Context;
use crate::services::error::ServiceError;
use crate::services::identity::sessions::{self, Principal};
use crate::services::identity::signin::{codes_pk, delete_recovery_codes, reauthenticate};
use crate::services::identity::users::{self};
use crate::services::identity::{lockout, mfa, password};
use crate::services::tenancy::audit;
use crate::services::tenancy::tenants;

#[derive(Deserialize)]
pub struct EnrolBody {
    pub password: String,
}

/// `POST /v1/me/mfa/totp` `{"password"}` → `{"secret", "otpauth_uri"}`; MFA is on only after
/// confirmation.
#[derive(Serialize)]
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

pub async fn enrol(state: &Context, p: &Principal, body: EnrolBody) -> Result<Enrolment, ServiceError> {
    if p.user.mfa_enabled {
        return Err(ServiceError::Conflict("MFA is already on; turn it off before enrolling again".into()));
    }
    reauthenticate(state, p, body.password, None, false, "mfa.enrol").await?;
    let secret = mfa::new_secret();
    let (_, tenant_name) = tenants::meta_of(state, &p.tenant).await?;
    let email = p.user.email(state, &p.tenant).await.context("enrol: user.email")?;
    let (base32, uri) = mfa::enrolment(&secret, &tenant_name, &email).context("enrol: mfa::enrolment")?;
    let sealed =
        users::seal(state, &p.tenant, &p.user_id, "totp_pending", &secret).await.context("enrol: users::seal")?;
    let set = Update::default().set(attr::TOTP_PENDING_ENC, sealed);
    users::update(state, &p.tenant, &p.user_id, set).await.context("enrol: users::update")?;
    Ok(Enrolment { secret: base32, otpauth_uri: uri })
}

#[derive(Deserialize)]
pub struct CodeBody {
    pub code: String,
}

/// `POST /v1/me/mfa/totp/confirm` `{"code"}` → `{"recovery_codes": [10]}`; MFA is on.
#[derive(Serialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

pub async fn confirm(state: &Context, p: &Principal, body: CodeBody) -> Result<RecoveryCodes, ServiceError> {
    let pending = p
        .user
        .open_bytes(state, &p.tenant, "totp_pending")
        .await
        .context("confirm: user.open_bytes")?
        .ok_or_else(|| ServiceError::Conflict("start the enrolment first (POST /v1/me/mfa/totp)".into()))?;
    let now = state.ports.clock.now_secs();
    // Each code takes a lockout slot, so a stolen session cannot guess the code of an
    // enrolment in progress (a hit would turn MFA on and hand out the recovery codes).
    let lock = crate::services::identity::signin::user_lock(&p.tenant, &p.user);
    let attempt = crate::services::identity::signin::claim_attempt(state, &lock).await?;
    let Some(step) = mfa::matching_step(&pending, body.code.trim(), now) else {
        crate::services::identity::signin::record_failure(
            state,
            Some(&p.tenant),
            &lock,
            attempt,
            &p.user_id,
            &p.user_id,
            "mfa.enable",
        )
        .await?;
        return Err(ServiceError::InvalidCredentials);
    };
    lockout::release(&*state.ports.store, &lock).await.context("confirm: lockout::release")?;
    let totp_enc = users::seal(state, &p.tenant, &p.user_id, "totp", &pending).await.context("confirm: users::seal")?;
    let keys = state.identity_keys.get(&*state.ports.secrets).await.context("confirm: identity_keys.get")?;
    let codes = mfa::new_recovery_codes();
    delete_recovery_codes(state, &p.tenant, &p.user_id).await?;
    let mut ops = vec![TxOp::Update {
        table: Table::tenant(&p.tenant),
        pk: users::USERS_PK.into(),
        sk: users::user_sk(&p.user_id),
        update: Update::default()
            .set(attr::MFA_ENABLED, true)
            .set(attr::TOTP_ENC, totp_enc)
            .set(attr::TOTP_LAST_STEP, step as i64)
            .remove(attr::TOTP_PENDING_ENC),
        // A code is used once: the step must be newer than any accepted before.
        cond: Cond::And(vec![
            Cond::Exists,
            Cond::eq(attr::MFA_ENABLED, false),
            Cond::Or(vec![Cond::Missing(attr::TOTP_LAST_STEP.into()), Cond::lt(attr::TOTP_LAST_STEP, step as i64)]),
        ]),
    }];
    for code in &codes {
        let item = Item::new(codes_pk(&p.user_id), keys.recovery_code_hash(p.tenant.as_str(), code));
        ops.push(TxOp::Put { table: Table::tenant(&p.tenant), item, cond: Cond::NotExists });
    }
    state.commit(ops, ServiceError::InvalidCredentials).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.enable", &p.user_id, "success")
        .await
        .context("confirm: audit::record")?;
    Ok(RecoveryCodes { recovery_codes: codes })
}

#[derive(Deserialize)]
pub struct ReauthBody {
    pub password: String,
    #[serde(default, deserialize_with = "crate::domain::types::present")]
    pub code: Option<String>,
}

/// `DELETE /v1/me/mfa/totp` `{"password", "code"}` → 204; refused while the tenant requires MFA.
pub async fn disable(state: &Context, p: &Principal, body: ReauthBody) -> Result<(), ServiceError> {
    if crate::services::tenancy::policy::load(state, &p.tenant).await?.mfa_required {
        return Err(ServiceError::Forbidden);
    }
    reauthenticate(state, p, body.password, body.code.as_deref(), true, "mfa.disable").await?;
    turn_off(state, &p.tenant, &p.user_id).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.disable", &p.user_id, "success")
        .await
        .context("disable: audit::record")?;
    Ok(())
}

/// `POST /v1/admin/users/{user_id}/mfa/reset` → 204: TOTP, recovery codes and security answers
/// go, and every session of the user is revoked (a lost phone). Never one's own account: an
/// admin whose session was stolen must not be able to strip their own factors this way.
pub async fn admin_reset(state: &Context, p: &Principal, user_id: &UserId) -> Result<(), ServiceError> {
    let target = users::target(state, &p.tenant, user_id).await?;
    if target.user_id == p.user_id {
        return Err(ServiceError::Forbidden);
    }
    let off = Update::default()
        .set(attr::MFA_ENABLED, false)
        .remove(attr::TOTP_ENC)
        .remove(attr::TOTP_PENDING_ENC)
        .remove(attr::SECURITY_QUESTIONS_ENC)
        .remove(attr::ANSWER_HASHES)
        .add(attr::SESSION_EPOCH, 1);
    match users::update(state, &p.tenant, &target.user_id, off).await {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => return Err(ServiceError::NotFound),
        Err(e) => return Err(ServiceError::internal(e)),
    }
    delete_recovery_codes(state, &p.tenant, &target.user_id).await?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.admin_reset", &target.user_id, "success")
        .await
        .context("admin_reset: audit::record")?;
    Ok(())
}

async fn turn_off(state: &Context, tenant: &TenantId, user_id: &str) -> Result<(), ServiceError> {
    let off = Update::default().set(attr::MFA_ENABLED, false).remove(attr::TOTP_ENC).remove(attr::TOTP_PENDING_ENC);
    users::update(state, tenant, user_id, off).await.context("turn_off: users::update")?;
    delete_recovery_codes(state, tenant, user_id).await
}

#[derive(Deserialize)]
pub struct QuestionBody {
    pub question: String,
    pub answer: String,
}

#[derive(Deserialize)]
pub struct QuestionsBody {
    pub password: String,
    #[serde(default, deserialize_with = "crate::domain::types::present")]
    pub code: Option<String>,
    pub questions: Vec<QuestionBody>,
}

/// `PUT /v1/me/security-questions` `{"password", "code"?, "questions"}` → 204. Questions
/// encrypted; answers normalised and stored only as argon2id hashes.
pub async fn set_security_questions(state: &Context, p: &Principal, body: QuestionsBody) -> Result<(), ServiceError> {
    if body.questions.len() != 2 {
        return Err(ServiceError::ValidationFailed("exactly two questions are required".into()));
    }
    let mut questions = Vec::new();
    let mut answers = Vec::new();
    for q in &body.questions {
        questions.push(parse_display_text(&q.question, "question", 200).map_err(ServiceError::ValidationFailed)?);
        let answer = mfa::normalise_answer(&q.answer);
        if answer.chars().count() < 2 || answer.chars().count() > 200 {
            return Err(ServiceError::ValidationFailed("each answer must be 2..=200 characters".into()));
        }
        answers.push(SecretString::from(answer));
    }
    if questions[0].to_lowercase() == questions[1].to_lowercase() {
        return Err(ServiceError::ValidationFailed("the two questions must differ".into()));
    }
    reauthenticate(state, p, body.password, body.code.as_deref(), true, "mfa.security_questions").await?;
    let mut hashes = Vec::new();
    for answer in answers {
        hashes.push(AttrValue::S(password::hash(answer).await.context("set_security_questions: hashes.push")?));
    }
    let sealed = users::seal(state, &p.tenant, &p.user_id, "security_questions", &mfa::encode_questions(&questions))
        .await
        .context("set_security_questions: users::seal")?;
    let set =
        Update::default().set(attr::SECURITY_QUESTIONS_ENC, sealed).set(attr::ANSWER_HASHES, AttrValue::L(hashes));
    users::update(state, &p.tenant, &p.user_id, set).await.context("set_security_questions: users::update")?;
    audit::record(&state.ports, &p.tenant, &p.user_id, "mfa.security_questions", &p.user_id, "success")
        .await
        .context("set_security_questions: audit::record")?;
    Ok(())
}

/// `GET /v1/me`.
#[derive(Serialize)]
pub struct Me {
    pub user_id: String,
    pub tenant: String,
    pub email: String,
    pub display_name: String,
    pub role: &'static str,
    pub privileges: Vec<&'static str>,
    pub mfa_enabled: bool,
    pub password_change_required: bool,
}

pub async fn me(state: &Context, p: &Principal) -> Result<Me, ServiceError> {
    let u = &p.user;
    Ok(Me {
        user_id: u.user_id.clone(),
        tenant: p.tenant_slug.clone(),
        email: u.email(state, &p.tenant).await.context("me: the email")?,
        display_name: u.display_name(state, &p.tenant).await.context("me: the display name")?,
        role: u.role.as_str(),
        privileges: crate::domain::roles::privileges(u.role).iter().map(|x| x.name()).collect(),
        mfa_enabled: u.mfa_enabled,
        password_change_required: p.must_change_password(),
    })
}

#[derive(Deserialize)]
pub struct ChangePasswordBody {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /v1/me/password` → 204; other sessions are revoked, this one stays.
pub async fn change_password(state: &Context, p: &Principal, body: ChangePasswordBody) -> Result<(), ServiceError> {
    let u = &p.user;
    // Counted toward the lockout like a login, so a stolen session cannot guess the password.
    reauthenticate(state, p, body.current_password, None, false, "password.change").await?;
    let email = u.email(state, &p.tenant).await.context("change_password: u.email")?;
    crate::services::identity::signin::enforce_policy(&body.new_password, &[&email])?;
    let fresh =
        password::hash(SecretString::from(body.new_password)).await.context("change_password: password::hash")?;
    let epoch = u.session_epoch + 1;
    let ops = vec![
        TxOp::Update {
            table: Table::tenant(&p.tenant),
            pk: users::USERS_PK.into(),
            sk: users::user_sk(&u.user_id),
            update: Update::default()
                .set(attr::PASSWORD_HASH, fresh)
                .set(attr::PASSWORD_CHANGE_REQUIRED, false)
                .set(attr::SESSION_EPOCH, epoch),
            cond: Cond::eq(attr::SESSION_EPOCH, u.session_epoch),
        },
        sessions::carry_over(&p.tenant, &p.session_id, epoch),
    ];
    // The user's sessions were revoked meanwhile (admin, reset): this one is gone too.
    state.commit(ops, ServiceError::Unauthorized).await?;
    audit::record(&state.ports, &p.tenant, &u.user_id, "password.change", &u.user_id, "success")
        .await
        .context("change_password: audit::record")?;
    Ok(())
}
