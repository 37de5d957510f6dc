//! Lambda function `admin-audit-list`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("admin-audit-list")
}
