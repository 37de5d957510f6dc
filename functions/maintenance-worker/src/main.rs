//! Lambda function `maintenance-worker`: re-encryption jobs (SQS) and the retention sweep
//! (schedule). Its handler in `bulwark::lambda::WORKERS` is chosen at compile time, so the
//! binary links only that handler and the ports it is granted.

fn main() -> std::process::ExitCode {
    bulwark::lambda::work::<{ bulwark::lambda::worker("maintenance-worker") }>()
}
