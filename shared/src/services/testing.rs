//! Unit-test fixture of the services: a [`Context`] over the embedded adapters in a temporary
//! data directory, on a manual clock, with one tenant whose admin has accepted the invitation.

use std::path::PathBuf;
use std::sync::Arc;

use crate::domain::types::{Email, Role, TenantId, TenantSlug};
use crate::ports::clock::ManualClock;
use crate::ports::Ports;
use crate::runtime::backend::{EmbeddedSettings, PushSettings, Wiring};
use crate::services::context::{Context, OperatorAuth, ServiceSettings};
use crate::services::identity::users::{self, UserRecord};
use crate::services::tenancy::tenants::{self, NewTenant};

pub struct Fixture {
    pub ctx: Context,
    pub clock: Arc<ManualClock>,
    pub tenant: TenantId,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fixture {
    /// GIVEN a fresh embedded backend with tenant `acme`.
    pub async fn new() -> Fixture {
        let dir = std::env::temp_dir().join(format!("bulwark-unit-{}", uuid::Uuid::new_v4().simple()));
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let settings = EmbeddedSettings {
            data_dir: dir.clone(),
            push: PushSettings { fcm_url: "http://127.0.0.1:9".into(), apns_url: "http://127.0.0.1:9".into() },
            passphrase: Some("unit test passphrase".to_owned().into()),
            mail_from: "Bulwark <no-reply@bulwark.test>".into(),
        };
        let ports = Ports::embedded(settings, clock.clone()).expect("embedded ports");
        ports.store.ensure_table(&crate::ports::Table::Platform).await.expect("platform table");
        let maintenance = crate::services::jobs::queue();
        ports.queue.ensure_queue(&maintenance, crate::services::jobs::MAX_RECEIVES).await.expect("queue");
        let ctx = Context::new(
            ports,
            ServiceSettings {
                app_url: "https://app.bulwark.test".into(),
                operator: OperatorAuth::from_token(&"operator".to_owned().into()),
                mail_rate_per_account: 5,
                sso: crate::services::context::SsoSettings {
                    api_url: "https://api.bulwark.test".into(),
                    allow_loopback_http: true,
                },
            },
        );
        let req = NewTenant {
            slug: TenantSlug::parse("acme").unwrap(),
            name: "Acme Health".into(),
            admin_email: Email::parse("admin@acme.test").unwrap(),
        };
        let tenant = tenants::create_tenant(&ctx, req).await.expect("tenant").tenant_id;
        Fixture { ctx, clock, tenant, dir }
    }

    /// A user of the tenant, created directly (no invitation flow).
    pub async fn user(&self, email: &str, role: Role) -> UserRecord {
        let email = Email::parse(email).unwrap();
        let keys = self.ctx.identity_keys.get(&*self.ctx.ports.secrets).await.unwrap();
        let index = keys.email_index(self.tenant.as_str(), &email);
        let user_id = users::new_user_id();
        let hash =
            crate::services::identity::password::hash("Correct-Horse-Battery-9".to_owned().into()).await.unwrap();
        let new = users::NewUser {
            user_id: &user_id,
            email: &email,
            email_index: &index,
            display_name: "Test User",
            role,
            password_hash: hash,
        };
        let ops = users::create_ops(&self.ctx, &self.tenant, new).await.unwrap();
        self.ctx.ports.store.transact(ops).await.unwrap();
        users::get(&self.ctx, &self.tenant, &user_id).await.unwrap().unwrap()
    }

    /// A request's caller: `user`, signed in with a password, nothing prefetched.
    pub fn principal(&self, user: &UserRecord) -> crate::services::identity::sessions::Principal {
        crate::services::identity::sessions::Principal {
            tenant: self.tenant.clone(),
            tenant_slug: "acme".into(),
            user_id: user.user_id.clone(),
            session_id: "s".into(),
            user: user.clone(),
            sso: false,
            prefetched: Default::default(),
        }
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(time::Duration::seconds(secs));
    }
}
