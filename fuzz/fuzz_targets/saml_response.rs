//! SAML responses and IdP metadata (both come from outside: the browser posts the one, a tenant
//! admin pastes the other): never a panic, bounded work, and a response is never accepted —
//! the fuzzer cannot forge an RSA signature by the trusted key, so any `Ok` is a verifier bug.
//! Seeds worth adding by hand: genuine responses from the test IdPs (tests/idp/saml).
#![no_main]

use std::sync::OnceLock;

use base64::{engine::general_purpose::STANDARD, Engine};
use bulwark::domain::saml::{parse_idp_metadata, verify_response, Expect};
use bulwark::domain::xmldsig::{canonicalize, parse, TrustedKey};
use libfuzzer_sys::fuzz_target;

/// A throwaway self-signed RSA-2048 certificate (its key was discarded).
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIDBzCCAe+gAwIBAgIUA/WRM94/UbrwZbySMmdOBrKNgSgwDQYJKoZIhvcNAQEL
BQAwEzERMA8GA1UEAwwIZnV6ei1pZHAwHhcNMjYxMTI0MTg1NTEzWhcNMzYxMTIx
MTg1NTEzWjATMREwDwYDVQQDDAhmdXp6LWlkcDCCASIwDQYJKoZIhvcNAQEBBQAD
ggEPADCCAQoCggEBAMuoetxWn9wC8PsiyJVwbO2pEjpF8IZHzrnGQ+BC/uzTMiNt
M2NJRSZPNR9Pd3encW79DasEP554SYMsJ4u57wcEV540SZAqVgBeDr+UQ/QOQPHU
icOsiRdxNz55dsFsNavo6IzuCiYObnAqXLnAI1JDdC5ilFYzp+P5rY/41/D9Tfwr
S0JeKaqkKZkOpBI+5T1YM6qhRxSzN9Whctqfie9BWY7DCdEzXhFyR+t/WMrBHfMK
d+kuXXsx9HoFvvlSpAve/eCDkzzG5oDfvtsBBLMAr+0jCrvzTPUuEojUs11iwMGY
noAKGzCSKIdvNvmIwYumqwaNukN462cIB09cipMCAwEAAaNTMFEwHQYDVR0OBBYE
FNn78ZObl9YCmRWp0ur/6OPlMrYUMB8GA1UdIwQYMBaAFNn78ZObl9YCmRWp0ur/
6OPlMrYUMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEBADy+cCvm
CPE7Rx2Kq1VnNuAjICTWc6XgEAx18OXnhUaRw/ECRjrYOy4Pm9KxL1p7JaRuvCxu
WJY+E+DTkD1gjGHK4XW3cG/zTcHG6gf66ccveYWAwY1XyPKyqOasIPvdtJ9u8KvJ
I9kff2RdbxvHMozqF+w7SbRUrmfEdQt9KPBS4f22nNuSAOC4wgB46WSqTHwoy/yV
V0T/XAlJLDtSDx1cdvejGpZxixArF8ilQd8OSaeIaaGLAtCTAF3ezd3rIIhlh06j
SSGlSW8B3bauwqUFYPP/Hh9BokVZrK4u6ZZ32krZzu7CwH86WyKjl+hPlipjVGbn
9k1d1P+cOEPs0y8=
-----END CERTIFICATE-----";

fn keys() -> &'static [TrustedKey] {
    static KEYS: OnceLock<Vec<TrustedKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let b64: String = CERT.lines().filter(|l| !l.starts_with("-----")).collect();
        vec![TrustedKey::from_certificate_der(&STANDARD.decode(b64).unwrap()).unwrap()]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    let expect = Expect {
        idp_entity_id: "https://idp.test",
        sp_entity_id: "https://sp.test/v1/sso/acme/saml/metadata",
        acs_url: "https://sp.test/v1/sso/saml/acs",
        request_id: "_req",
        now: 1_800_000_000,
        keys: keys(),
        email_attribute: None,
    };
    assert!(verify_response(xml, &expect).is_err(), "a response without a genuine signature was accepted");
    let _ = parse_idp_metadata(xml);
    if let Ok(doc) = parse(xml) {
        let _ = canonicalize(&doc, doc.root_element(), None, &["#default", "xs"]);
    }
});
