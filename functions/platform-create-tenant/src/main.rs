//! Lambda function `platform-create-tenant`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("platform-create-tenant")
}
