//! Lambda function `admin-policy-put`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("admin-policy-put")
}
