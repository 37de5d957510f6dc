//! Lambda function `devices-unregister`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("devices-unregister")
}
