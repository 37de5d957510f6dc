//! Structured JSON logs (tracing). Level from `BULWARK_LOG` (default `info`; `warn` or
//! `info,bulwark=warn` style target lists). Handlers log ids and outcomes only; bodies, tokens
//! and personal data are never logged. Release builds compile out every `debug`/`trace`
//! callsite (tracing's `release_max_level_info`): the dependencies' thousands of them were a
//! large share of a function's binary and of the relocations paid on each cold start.
//!
//! On Lambda the counters of `services::metrics` become CloudWatch embedded-metric-format
//! lines (namespace `Bulwark`, dimension `Service`), which CloudWatch turns into metrics
//! without a PutMetricData call; elsewhere they stay ordinary log lines.

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
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        let not_metrics = tracing_subscriber::filter::filter_fn(|m| m.target() != crate::services::metrics::TARGET);
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::Layer::with_filter(fmt, not_metrics))
            .with(Emf)
            .try_init();
    } else {
        let _ = tracing_subscriber::registry().with(filter).with(fmt).try_init();
    }
}

/// Writes each metric event as one EMF line on stdout (what Lambda sends to CloudWatch Logs).
struct Emf;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Emf {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != crate::services::metrics::TARGET {
            return;
        }
        struct Name(Option<String>);
        impl tracing::field::Visit for Name {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "metric" {
                    self.0 = Some(value.to_owned());
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut name = Name(None);
        event.record(&mut name);
        if let Some(name) = name.0 {
            let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            println!("{}", emf_line(&name, ms as i64));
        }
    }
}

/// One CloudWatch embedded-metric-format record counting `name` once.
pub fn emf_line(name: &str, timestamp_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Bulwark",
                "Dimensions": [["Service"]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "Service": "bulwark",
        name: 1,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_emf_record_names_its_metric_dimension_and_value() {
        let v: serde_json::Value = serde_json::from_str(&super::emf_line("AccountLocked", 1_795_392_000_000)).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], "AccountLocked");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Bulwark");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0], "Service");
        assert_eq!((v["AccountLocked"].as_i64(), v["Service"].as_str()), (Some(1), Some("bulwark")));
        assert_eq!(v["_aws"]["Timestamp"], 1_795_392_000_000i64);
    }
}
