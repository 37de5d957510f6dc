//! `bulwark-server`: the local server (embedded mode by default). See `bulwark::server`.

fn main() -> std::process::ExitCode {
    bulwark::runtime::server::main()
}
