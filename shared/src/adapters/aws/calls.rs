//! Counts the AWS API calls this process makes, per service and operation, through an SDK
//! interceptor on every client. Each attempt counts (a retry is another call). Read by
//! `scripts/bench` to report what each route costs; cheap enough to stay on in production.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::config::ConfigBag;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

static CALLS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// The interceptor added to every SDK client (`backend::Ports::aws`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallCounter;

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "bulwark-call-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            if let Ok(mut calls) = CALLS.lock() {
                *calls.entry(format!("{}:{}", m.service(), m.name())).or_default() += 1;
            }
        }
        Ok(())
    }
}

/// Calls so far, `"<service>:<operation>"` → count.
pub fn snapshot() -> BTreeMap<String, u64> {
    CALLS.lock().map(|c| c.clone()).unwrap_or_default()
}

/// The calls made between two snapshots.
pub fn since(before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    snapshot()
        .into_iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(&k).copied().unwrap_or(0);
            (d > 0).then_some((k, d))
        })
        .collect()
}
