//! Lambda function `maintenance-worker`: re-encryption jobs (SQS) and the retention sweep
//! (schedule). Its handler in `bulwark::runtime::lambda::WORKERS` is chosen at compile time, so the
//! binary links only that handler and the ports it is granted.

fn main() -> std::process::ExitCode {
    bulwark::runtime::lambda::work::<{ bulwark::runtime::lambda::worker("maintenance-worker") }>()
}
