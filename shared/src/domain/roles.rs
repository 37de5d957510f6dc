//! Roles and privileges: one table in code. Every route declares the privilege it needs
//! (`crate::http::ROUTES`), and one middleware checks it.

use crate::domain::types::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Own account: profile, password, logout, the tenant policy, the device key.
    AccountSelf,
    /// The messaging app.
    AppUse,
    /// Invite, list, change, unlock and wipe users.
    UsersManage,
    /// Change the tenant policy.
    PolicyManage,
    /// Read the audit log.
    AuditRead,
}

impl Privilege {
    pub const ALL: [Privilege; 5] = [
        Privilege::AccountSelf,
        Privilege::AppUse,
        Privilege::UsersManage,
        Privilege::PolicyManage,
        Privilege::AuditRead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Privilege::AccountSelf => "account.self",
            Privilege::AppUse => "app.use",
            Privilege::UsersManage => "users.manage",
            Privilege::PolicyManage => "policy.manage",
            Privilege::AuditRead => "audit.read",
        }
    }
}

/// The privileges of each role.
pub fn privileges(role: Role) -> &'static [Privilege] {
    use Privilege::*;
    match role {
        Role::Admin => &[AccountSelf, AppUse, UsersManage, PolicyManage, AuditRead],
        Role::Member => &[AccountSelf, AppUse],
        Role::Auditor => &[AccountSelf, AuditRead],
    }
}

pub fn has(role: Role, p: Privilege) -> bool {
    privileges(role).contains(&p)
}
