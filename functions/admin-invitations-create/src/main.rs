//! Lambda function `admin-invitations-create`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("admin-invitations-create")
}
