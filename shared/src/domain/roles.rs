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
    /// Run the events CMS: events, agenda, attendees, announcements.
    EventsManage,
    /// Connect the tenant's integrations (SSO, Agora).
    IntegrationsManage,
}

impl Privilege {
    pub const ALL: [Privilege; 7] = [
        Privilege::AccountSelf,
        Privilege::AppUse,
        Privilege::UsersManage,
        Privilege::PolicyManage,
        Privilege::AuditRead,
        Privilege::EventsManage,
        Privilege::IntegrationsManage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Privilege::AccountSelf => "account.self",
            Privilege::AppUse => "app.use",
            Privilege::UsersManage => "users.manage",
            Privilege::PolicyManage => "policy.manage",
            Privilege::AuditRead => "audit.read",
            Privilege::EventsManage => "events.manage",
            Privilege::IntegrationsManage => "integrations.manage",
        }
    }
}

/// The privileges of each role.
pub fn privileges(role: Role) -> &'static [Privilege] {
    use Privilege::*;
    match role {
        Role::Admin => &[AccountSelf, AppUse, UsersManage, PolicyManage, AuditRead, EventsManage, IntegrationsManage],
        Role::Member => &[AccountSelf, AppUse],
        Role::Auditor => &[AccountSelf, AuditRead],
        Role::Organizer => &[AccountSelf, AppUse, EventsManage],
    }
}

pub fn has(role: Role, p: Privilege) -> bool {
    privileges(role).contains(&p)
}
