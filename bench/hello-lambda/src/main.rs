//! The baseline for cold starts: the smallest `lambda_runtime` function, built with the same
//! profile and dependencies' versions as Bulwark's functions.

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: LambdaEvent<serde_json::Value>| async { Ok::<_, Error>(serde_json::json!({"hello": "world"})) }))
        .await
}
