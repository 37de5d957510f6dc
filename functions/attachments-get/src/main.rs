//! Lambda function `attachments-get`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("attachments-get")
}
