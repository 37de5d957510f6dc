//! Lambda function `attachments-upload`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("attachments-upload")
}
