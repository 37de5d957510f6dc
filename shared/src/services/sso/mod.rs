//! Single sign-on (API.md "Single sign-on"): a tenant's IdP configuration (`config`), the
//! OpenID Connect relying party (`oidc`, with ID token verification in `id_token`), and what
//! every SSO protocol ends with — finding or provisioning the user and the login code
//! (`login`). The SAML 2.0 service provider is `saml` (its XML rules live in `domain::saml`).

pub mod config;
pub mod id_token;
pub mod login;
pub mod oidc;
pub mod saml;
