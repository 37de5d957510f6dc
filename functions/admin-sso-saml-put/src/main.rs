//! Lambda function `admin-sso-saml-put`: its route of `bulwark::http::ROUTES`, chosen at compile
//! time, so the binary links only that handler and the ports it is granted.

fn main() -> std::process::ExitCode {
    bulwark::runtime::lambda::serve::<{ bulwark::http::route("admin-sso-saml-put") }>()
}
