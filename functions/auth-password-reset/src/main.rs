//! Lambda function `auth-password-reset`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("auth-password-reset")
}
