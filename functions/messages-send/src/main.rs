//! Lambda function `messages-send`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("messages-send")
}
