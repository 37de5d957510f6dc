//! Lambda function `platform-tenant-keys-get`: a tenant's data-key versions (operator).

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("platform-tenant-keys-get")
}
