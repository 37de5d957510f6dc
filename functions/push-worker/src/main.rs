//! Lambda function `push-worker`: delivers queued push notifications (SQS event source).

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("push-worker")
}
