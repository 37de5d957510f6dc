//! Lambda function `me-mfa-totp-confirm`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("me-mfa-totp-confirm")
}
