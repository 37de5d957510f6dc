//! Page cursors from clients: decoding never panics, and a decoded cursor lies inside the
//! query's range (a cursor cannot move a query elsewhere in the partition).
#![no_main]

use bulwark::ports::store::{decode_cursor, decode_scan_cursor, encode_cursor, SkRange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(c) = std::str::from_utf8(data) else { return };
    let prefix = SkRange::Prefix("MSG#".into());
    if let Ok(sk) = decode_cursor(c, &prefix) {
        assert!(sk.starts_with("MSG#"));
        assert_eq!(decode_cursor(&encode_cursor(&sk), &prefix).ok(), Some(sk));
    }
    let between = SkRange::Between("EVT#0".into(), "EVT#9".into());
    if let Ok(sk) = decode_cursor(c, &between) {
        assert!(("EVT#0"..="EVT#9").contains(&sk.as_str()));
    }
    let _ = decode_scan_cursor(c);
});
