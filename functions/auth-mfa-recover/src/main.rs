//! Lambda function `auth-mfa-recover`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("auth-mfa-recover")
}
