//! Pure types and rules, no I/O: identifiers and values parsed once at the boundary, roles
//! and their privileges, the security policy's numbers, and the cryptographic primitives.

pub mod agora;
pub mod crypto;
pub mod policy;
pub mod roles;
pub mod saml;
pub mod schedule;
pub mod types;
pub mod xmldsig;

#[cfg(test)]
mod proptests;
