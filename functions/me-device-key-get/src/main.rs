//! Lambda function `me-device-key-get`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("me-device-key-get")
}
