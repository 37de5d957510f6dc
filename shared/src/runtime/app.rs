//! The one bootstrap: ports and settings in, the application state out. The local server, every
//! Lambda function and the test harness build their state here, so they run the same wiring.

use crate::http::state::AppState;
use crate::ports::Ports;
use crate::runtime::settings::AppSettings;
use crate::services::context::{Context, ServiceSettings};

/// The state of the whole API over `ports`.
pub fn application(ports: Ports, settings: AppSettings) -> AppState {
    let AppSettings { app_url, operator, anon_rate_per_ip, mail_rate_per_account, hash_concurrency, sso } = settings;
    if let Some(n) = hash_concurrency {
        crate::services::identity::password::HashPool::configure(n);
    }
    let ctx = Context::new(ports, ServiceSettings { app_url, operator, mail_rate_per_account, sso });
    AppState::new(ctx, anon_rate_per_ip)
}

/// The platform table and the queues, where nothing else creates them: the local server
/// always, a Lambda run locally in embedded mode, the test harness (on AWS the template does).
pub async fn ensure_platform(ports: &Ports) -> anyhow::Result<()> {
    use crate::services::{maintenance, push};
    ports.store.ensure_table(&crate::ports::Table::Platform).await?;
    ports.queue.ensure_queue(&push::queue(), push::MAX_RECEIVES).await?;
    ports.queue.ensure_queue(&maintenance::queue(), maintenance::MAX_RECEIVES).await?;
    Ok(())
}
