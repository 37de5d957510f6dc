//! Lambda function `admin-users-device-key-reset`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("admin-users-device-key-reset")
}
