//! Lambda function `me-security-questions-put`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("me-security-questions-put")
}
