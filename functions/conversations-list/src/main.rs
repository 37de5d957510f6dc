//! Lambda function `conversations-list`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("conversations-list")
}
