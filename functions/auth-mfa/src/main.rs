//! Lambda function `auth-mfa`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("auth-mfa")
}
