//! Lambda function `me-mfa-totp-delete`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("me-mfa-totp-delete")
}
