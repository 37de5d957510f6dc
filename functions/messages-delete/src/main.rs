//! Lambda function `messages-delete`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("messages-delete")
}
