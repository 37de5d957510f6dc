//! Parse-don't-validate newtypes for the values that cross the API boundary. Once a value is
//! one of these, it is known to be well-formed.

use std::fmt;

/// An email address, trimmed and lower-cased (API.md: compared case-insensitively).
/// Debug never prints the address: it is personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() || s.len() > 254 {
            return Err("email must be 1..=254 characters".into());
        }
        // lettre implements the RFC 5321/5322 address grammar; reuse it rather than a regex.
        let addr: lettre::Address = s.parse().map_err(|_| "email is not a valid address".to_string())?;
        if !addr.domain().contains('.') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("email is not a valid address".into());
        }
        Ok(Email(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// A tenant slug: `^[a-z0-9][a-z0-9-]{2,39}$`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let ok = (3..=40).contains(&b.len())
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b[1..].iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
        if ok {
            Ok(TenantSlug(s.to_owned()))
        } else {
            Err("slug must match ^[a-z0-9][a-z0-9-]{2,39}$".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant's opaque id: 32 lower-case hex characters (a UUID without dashes), which is
/// also safe inside a DynamoDB table name and a KMS encryption context.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn generate() -> Self {
        TenantId(uuid::Uuid::now_v7().simple().to_string())
    }
    pub fn parse(s: &str) -> Result<Self, String> {
        if is_hex_id(s) {
            Ok(TenantId(s.to_owned()))
        } else {
            Err("invalid tenant id".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 32-lower-hex-digit ids Bulwark generates (UUIDv7 without dashes: time-ordered). Each
/// kind is its own type, parsed once where it enters (a path, a body), so a handler never
/// sees a malformed id and never mixes one kind up with another.
macro_rules! hex_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                $name(uuid::Uuid::now_v7().simple().to_string())
            }
            pub fn parse(s: &str) -> Result<Self, String> {
                if is_hex_id(s) {
                    Ok($name(s.to_owned()))
                } else {
                    Err(concat!("invalid ", stringify!($name)).into())
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

hex_id!(
    /// A user of a tenant.
    UserId,
    /// A conversation.
    ConversationId,
    /// A message (time-ordered within its conversation).
    MessageId,
    /// An attachment.
    AttachmentId,
    /// A push device registration.
    DeviceId,
    /// An event of the event app.
    EventId,
    /// A session of an event's agenda.
    SessionId,
    /// An announcement to an event's attendees (time-ordered within its event).
    AnnouncementId,
);

/// For an optional body field: absent is `None`, but `null` is refused like any other value
/// of the wrong type (the contract's optional fields are not nullable).
/// Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A human display text (tenant name, display name): trimmed, 1..=max characters, no control
/// characters.
pub fn parse_display_text(raw: &str, field: &str, max: usize) -> Result<String, String> {
    let s = raw.trim();
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(format!("{field} must be 1..={max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// A role of a tenant user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
    Auditor,
    Organizer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Auditor => "auditor",
            Role::Organizer => "organizer",
        }
    }
    pub fn parse(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "auditor" => Ok(Role::Auditor),
            "organizer" => Ok(Role::Organizer),
            _ => Err("role must be admin, member, auditor or organizer".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_validated() {
        assert_eq!(Email::parse("  A.B@Acme.Test ").unwrap().as_str(), "a.b@acme.test");
        for bad in ["", "no-at", "a@b", "a b@c.de", "@c.de", "a@"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(format!("{:?}", Email::parse("x@y.zz").unwrap()), "Email(<redacted>)");
    }

    #[test]
    fn ids_are_parsed_once_and_deserialize_only_when_well_formed() {
        let id = ConversationId::generate();
        assert_eq!(ConversationId::parse(id.as_str()).unwrap(), id);
        for bad in ["", "ABCDEF00000000000000000000000000", "not-an-id", &"0".repeat(31), &"0".repeat(33)] {
            assert!(MessageId::parse(bad).is_err(), "{bad:?} accepted");
            assert!(serde_json::from_value::<UserId>(serde_json::json!(bad)).is_err());
        }
        let ok: AttachmentId = serde_json::from_value(serde_json::json!("0".repeat(32))).unwrap();
        assert_eq!(serde_json::to_value(&ok).unwrap(), serde_json::json!("0".repeat(32)));
    }

    #[test]
    fn slugs_follow_the_contract() {
        for good in ["acme", "a1-b", "0ab", &"a".repeat(40)] {
            assert!(TenantSlug::parse(good).is_ok(), "{good:?} rejected");
        }
        for bad in ["ab", "-abc", "Acme", "ac_me", "acmé", &"a".repeat(41), ""] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
