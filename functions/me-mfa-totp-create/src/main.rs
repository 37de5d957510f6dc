//! Lambda function `me-mfa-totp-create`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("me-mfa-totp-create")
}
