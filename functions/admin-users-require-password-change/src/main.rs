//! Lambda function `admin-users-require-password-change`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("admin-users-require-password-change")
}
