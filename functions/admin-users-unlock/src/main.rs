//! Lambda function `admin-users-unlock`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("admin-users-unlock")
}
