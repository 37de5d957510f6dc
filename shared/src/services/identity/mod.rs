//! Identity: invite-only accounts, passwords, lockout, sessions and tokens. Domain logic on
//! top of the ports; the HTTP handlers in `crate::routes` are thin adapters over it.

pub mod account;
pub mod account_mail;
pub mod admin;
pub mod device_key;
pub mod keys;
pub mod lockout;
pub mod mfa;
pub mod password;
pub mod sessions;
pub mod signin;
pub mod tokens;
pub mod users;
