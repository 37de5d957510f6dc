//! Lambda function `invitations-accept`: serves its route(s) of `bulwark::http::ROUTES`.

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("invitations-accept")
}
