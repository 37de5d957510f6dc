//! Lambda function `platform-tenant-keys-rotate`: rotates a tenant's data key (operator).

fn main() -> std::process::ExitCode {
    bulwark::lambda::main("platform-tenant-keys-rotate")
}
