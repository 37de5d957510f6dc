//! Bulwark's black-box test suite, one binary so the workspace links it once:
//! port contract suites (each against both adapters) and API tests through the router.

mod flows;
mod helpers;
mod saml_idp;
mod sso_idp;

mod contract_blob;
mod contract_keys;
mod contract_mail;
mod contract_queue;
mod contract_secrets;
mod contract_store;

mod api_errors;
mod api_events;
mod api_faults;
mod api_idempotency;
mod api_identity;
mod api_keys;
mod api_messages;
mod api_mfa;
mod api_push;
mod api_saml;
mod api_security;
mod api_sso;
mod api_tenants;
mod api_web_session;
mod consistency;
mod embedded_mode;
mod ops;
mod server;
