//! Lambda function `maintenance-worker`: re-encryption jobs (SQS) and the retention sweep (schedule).

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("maintenance-worker")
}
