//! Event times: instants as RFC 3339 text, time zones as IANA names checked against the
//! time-zone database compiled into the binary (so a Lambda needs no zoneinfo files).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The earliest and latest instants an event may use (keeps sort keys fixed-width).
const MIN_SECS: i64 = 946_684_800; // 2000-01-01T00:00:00Z
const MAX_SECS: i64 = 4_102_444_800; // 2100-01-01T00:00:00Z

/// A point in time, parsed once: Unix seconds plus its canonical UTC text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(i64);

impl Instant {
    pub fn parse(raw: &str, field: &str) -> Result<Instant, String> {
        let t = OffsetDateTime::parse(raw.trim(), &Rfc3339)
            .map_err(|_| format!("{field} must be an RFC 3339 timestamp"))?;
        Instant::from_secs(t.unix_timestamp()).ok_or_else(|| format!("{field} must lie between 2000 and 2100"))
    }

    pub fn from_secs(secs: i64) -> Option<Instant> {
        (MIN_SECS..MAX_SECS).contains(&secs).then_some(Instant(secs))
    }

    pub fn secs(self) -> i64 {
        self.0
    }

    /// RFC 3339 UTC text (what the API answers).
    pub fn rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
    }

    /// A fixed-width, order-preserving sort-key fragment.
    pub fn sort_key(self) -> String {
        format!("{:012}", self.0)
    }
}

/// A validated IANA time-zone name (`Europe/Berlin`), in the database's own spelling.
pub fn parse_time_zone(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let bad = || "timezone must be an IANA time zone name such as Europe/Berlin".to_owned();
    if name.is_empty() || name.len() > 64 {
        return Err(bad());
    }
    let db = jiff::tz::TimeZoneDatabase::bundled();
    let tz = db.get(name).map_err(|_| bad())?;
    Ok(tz.iana_name().unwrap_or(name).to_owned())
}

/// A free text (description, announcement body): trimmed, 1..=max characters, no control
/// characters but line breaks and tabs.
pub fn parse_long_text(raw: &str, field: &str, max: usize) -> Result<String, String> {
    let s = raw.trim();
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(format!("{field} must be 1..={max} characters"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_once_and_order_like_their_sort_keys() {
        let a = Instant::parse("2026-03-01T09:00:00+01:00", "starts_at").unwrap();
        let b = Instant::parse("2026-03-01T08:30:00Z", "ends_at").unwrap();
        assert_eq!(a.rfc3339(), "2026-03-01T08:00:00Z");
        assert!(a < b && a.sort_key() < b.sort_key());
        for bad in ["", "yesterday", "2026-03-01 09:00", "1999-12-31T23:59:59Z", "2101-01-01T00:00:00Z"] {
            assert!(Instant::parse(bad, "starts_at").is_err(), "{bad}");
        }
    }

    #[test]
    fn time_zones_come_from_the_iana_database() {
        assert_eq!(parse_time_zone("Europe/Berlin").unwrap(), "Europe/Berlin");
        assert_eq!(parse_time_zone("UTC").unwrap(), "UTC");
        for bad in ["", "Mars/Olympus_Mons", "Europe/Berlin/x", "../../etc/passwd", "CEST+1"] {
            assert!(parse_time_zone(bad).is_err(), "{bad}");
        }
    }
}
