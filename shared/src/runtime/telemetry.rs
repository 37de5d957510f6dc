//! Structured JSON logs (tracing). Level from `BULWARK_LOG` (default `info`; `warn` or
//! `info,bulwark=warn` style target lists). Handlers log ids and outcomes only; bodies, tokens
//! and personal data are never logged. Release builds compile out every `debug`/`trace`
//! callsite (tracing's `release_max_level_info`): the dependencies' thousands of them were a
//! large share of a function's binary and of the relocations paid on each cold start.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub fn init() {
    // `Targets`, not `EnvFilter`: the same directive syntax for targets and levels, without
    // linking a regex engine into every function.
    let filter = std::env::var("BULWARK_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let fmt = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false);
    let _ = tracing_subscriber::registry().with(filter).with(fmt).try_init();
}
