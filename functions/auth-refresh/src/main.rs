//! Lambda function `auth-refresh`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("auth-refresh")
}
