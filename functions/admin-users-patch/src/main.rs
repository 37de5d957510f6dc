//! Lambda function `admin-users-patch`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("admin-users-patch")
}
