//! Lambda function `push-worker`: delivers queued push notifications (SQS event source). Its
//! handler in `bulwark::runtime::lambda::WORKERS` is chosen at compile time, so the binary links only
//! that handler and the ports it is granted.

fn main() -> std::process::ExitCode {
    bulwark::runtime::lambda::work::<{ bulwark::runtime::lambda::worker("push-worker") }>()
}
