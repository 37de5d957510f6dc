//! SAML 2.0 Web Browser SSO, service provider side, as pure functions: the AuthnRequest and
//! its HTTP-Redirect URL, the SP metadata, reading an IdP's metadata, and the validation of a
//! Response (SAML Core §3.2.2, Profiles §4.1.4.3) against what this sign-in expects.
//!
//! Against XML signature wrapping the rule is structural: the document must hold exactly one
//! `Assertion`, as a direct child of the `Response`; the signature that counts is the
//! enveloped one that is a direct child of the Response or of that Assertion and references
//! it by a unique ID (`xmldsig::verify_enveloped`); and every value is read from that same
//! node. Comments anywhere are refused (they split text nodes without changing the digest).

use std::io::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use roxmltree::{Document, Node};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::domain::xmldsig::{self, elements, is, DsigError, TrustedKey, NS_DSIG};

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Clock skew allowed on every time check (API.md: ±2 min).
pub const SKEW_SECS: i64 = 120;

/// XML-escape text for an attribute value or element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// An unsigned AuthnRequest (Core §3.4.1) asking for an emailAddress NameID at our ACS.
/// `email_nameid`: ask for an emailAddress NameID (the email comes from it); otherwise leave
/// the format to the IdP (the email comes from an attribute, and some IdPs cannot issue that
/// format at all).
pub fn authn_request(
    id: &str,
    issue_instant: &str,
    destination: &str,
    acs_url: &str,
    sp_entity_id: &str,
    email_nameid: bool,
) -> String {
    format!(
        concat!(
            r#"<samlp:AuthnRequest xmlns:samlp="{p}" xmlns:saml="{a}" ID="{id}" Version="2.0" IssueInstant="{t}" "#,
            r#"Destination="{d}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{b}">"#,
            r#"<saml:Issuer>{sp}</saml:Issuer><samlp:NameIDPolicy Format="{f}" AllowCreate="true"/></samlp:AuthnRequest>"#
        ),
        p = NS_PROTOCOL,
        a = NS_ASSERTION,
        id = escape(id),
        t = escape(issue_instant),
        d = escape(destination),
        acs = escape(acs_url),
        b = BINDING_POST,
        sp = escape(sp_entity_id),
        f = if email_nameid { NAMEID_EMAIL } else { NAMEID_UNSPECIFIED },
    )
}

/// The HTTP-Redirect binding (Bindings §3.4.4.1): DEFLATE, base64, URL-encoded, appended to
/// the IdP's SSO URL (which may already have a query).
pub fn redirect_url(sso_url: &str, request_xml: &str, relay_state: &str) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let deflated = enc.write_all(request_xml.as_bytes()).and_then(|()| enc.finish()).unwrap_or_default();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &STANDARD.encode(deflated))
        .append_pair("RelayState", relay_state)
        .finish();
    let sep = if sso_url.contains('?') { '&' } else { '?' };
    format!("{sso_url}{sep}{query}")
}

/// The SP metadata (Metadata §2.4.4): our entity ID and the ACS with the HTTP-POST binding;
/// assertions must be signed, requests are not.
pub fn sp_metadata(entity_id: &str, acs_url: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<md:EntityDescriptor xmlns:md="{m}" entityID="{e}">"#,
            r#"<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="{p}">"#,
            r#"<md:NameIDFormat>{f}</md:NameIDFormat>"#,
            r#"<md:AssertionConsumerService Binding="{b}" Location="{acs}" index="0" isDefault="true"/>"#,
            r#"</md:SPSSODescriptor></md:EntityDescriptor>"#,
            "\n"
        ),
        m = NS_METADATA,
        e = escape(entity_id),
        p = NS_PROTOCOL,
        f = NAMEID_EMAIL,
        b = BINDING_POST,
        acs = escape(acs_url),
    )
}

/// The text of an element: all its text children (a comment would split them; comments are
/// refused before anything is read).
fn text(node: Node<'_, '_>) -> String {
    node.children().filter(Node::is_text).filter_map(|t| t.text()).collect::<String>().trim().to_owned()
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, local: &str) -> Option<Node<'a, 'i>> {
    elements(node).find(|n| is(*n, ns, local))
}

/// What an IdP's metadata says: its entity ID, SSO URL (HTTP-Redirect) and signing
/// certificates (DER).
#[derive(Debug)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub sso_url: String,
    pub certificates: Vec<Vec<u8>>,
}

/// Read an IdP's metadata (an `EntityDescriptor` with an `IDPSSODescriptor`).
pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, String> {
    let doc = xmldsig::parse(xml).map_err(|e| format!("idp_metadata_xml is not usable XML: {e}"))?;
    let root = doc.root_element();
    if !is(root, NS_METADATA, "EntityDescriptor") {
        return Err("idp_metadata_xml must be an EntityDescriptor".into());
    }
    let entity_id = root.attribute("entityID").ok_or("the EntityDescriptor has no entityID")?.to_owned();
    let idp = child(root, NS_METADATA, "IDPSSODescriptor").ok_or("the metadata has no IDPSSODescriptor")?;
    let sso_url = elements(idp)
        .filter(|n| is(*n, NS_METADATA, "SingleSignOnService"))
        .find(|n| n.attribute("Binding") == Some(BINDING_REDIRECT))
        .and_then(|n| n.attribute("Location"))
        .ok_or("the IdP offers no SingleSignOnService with the HTTP-Redirect binding")?
        .to_owned();
    let mut certificates = Vec::new();
    for kd in elements(idp).filter(|n| is(*n, NS_METADATA, "KeyDescriptor")) {
        if kd.attribute("use").is_some_and(|u| u != "signing") {
            continue;
        }
        for cert in kd.descendants().filter(|n| is(*n, NS_DSIG, "X509Certificate")) {
            let b64: String = text(cert).chars().filter(|c| !c.is_ascii_whitespace()).collect();
            certificates.push(STANDARD.decode(b64).map_err(|_| "an X509Certificate is not base64")?);
        }
    }
    if certificates.is_empty() {
        return Err("the metadata has no signing certificate".into());
    }
    Ok(IdpMetadata { entity_id, sso_url, certificates })
}

/// What the Response must match.
pub struct Expect<'a> {
    pub idp_entity_id: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    /// The ID of the AuthnRequest this sign-in sent.
    pub request_id: &'a str,
    pub now: i64,
    pub keys: &'a [TrustedKey],
    /// Read the email from this attribute instead of the NameID.
    pub email_attribute: Option<&'a str>,
}

/// What a valid Response vouches for.
#[derive(Debug)]
pub struct Verified {
    pub assertion_id: String,
    pub name_id: String,
    pub email: String,
    pub display_name: Option<String>,
    /// Until when the assertion could be presented (for the replay cache).
    pub valid_until: i64,
}

/// Why a Response is refused (logged; the client sees `error=invalid_token` or
/// `access_denied`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    #[error("the IdP reported a failure ({0})")]
    Status(String),
    #[error("neither the response nor the assertion is signed")]
    NotSigned,
    #[error("signature: {0}")]
    Signature(#[from] DsigError),
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong destination")]
    Destination,
    #[error("wrong recipient")]
    Recipient,
    #[error("wrong audience")]
    Audience,
    #[error("not a response to our request")]
    InResponseTo,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("no usable email")]
    NoEmail,
}

fn instant(s: Option<&str>) -> Result<Option<i64>, Rejection> {
    s.map(|v| {
        OffsetDateTime::parse(v.trim(), &Rfc3339).map(|t| t.unix_timestamp()).map_err(|_| Rejection::Malformed("time"))
    })
    .transpose()
}

/// A validity window (`NotBefore` inclusive, `NotOnOrAfter` exclusive) with the skew.
fn window(node: Node<'_, '_>, now: i64) -> Result<Option<i64>, Rejection> {
    if let Some(nb) = instant(node.attribute("NotBefore"))? {
        if now + SKEW_SECS < nb {
            return Err(Rejection::NotYetValid);
        }
    }
    let until = instant(node.attribute("NotOnOrAfter"))?;
    if let Some(u) = until {
        if now - SKEW_SECS >= u {
            return Err(Rejection::Expired);
        }
    }
    Ok(until)
}

/// A bearer confirmation's data: for our ACS, our request, still valid; until when.
fn bearer(data: Node<'_, '_>, expect: &Expect<'_>) -> Result<i64, Rejection> {
    if data.attribute("Recipient") != Some(expect.acs_url) {
        return Err(Rejection::Recipient);
    }
    if data.attribute("InResponseTo") != Some(expect.request_id) {
        return Err(Rejection::InResponseTo);
    }
    window(data, expect.now)?.ok_or(Rejection::Malformed("bearer confirmation without NotOnOrAfter"))
}

/// Validate a Response (the decoded XML of `SAMLResponse`) against `expect`.
pub fn verify_response(xml: &str, expect: &Expect<'_>) -> Result<Verified, Rejection> {
    let doc = xmldsig::parse(xml).map_err(|_| Rejection::Malformed("not well-formed XML"))?;
    verify_document(&doc, expect)
}

fn verify_document(doc: &Document<'_>, expect: &Expect<'_>) -> Result<Verified, Rejection> {
    if doc.descendants().any(|n| n.is_comment() || n.is_pi()) {
        return Err(Rejection::Malformed("comments or processing instructions"));
    }
    let response = doc.root_element();
    if !is(response, NS_PROTOCOL, "Response") || response.attribute("Version") != Some("2.0") {
        return Err(Rejection::Malformed("not a SAML 2.0 Response"));
    }
    let status = child(response, NS_PROTOCOL, "Status")
        .and_then(|s| child(s, NS_PROTOCOL, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        .ok_or(Rejection::Malformed("no status"))?;
    if status != SUCCESS {
        return Err(Rejection::Status(status.rsplit(':').next().unwrap_or_default().chars().take(40).collect()));
    }
    if response.attribute("Destination") != Some(expect.acs_url) {
        return Err(Rejection::Destination);
    }
    if response.attribute("InResponseTo") != Some(expect.request_id) {
        return Err(Rejection::InResponseTo);
    }
    if let Some(issuer) = child(response, NS_ASSERTION, "Issuer") {
        if text(issuer) != expect.idp_entity_id {
            return Err(Rejection::Issuer);
        }
    }
    if doc.descendants().any(|n| is(n, NS_ASSERTION, "EncryptedAssertion")) {
        return Err(Rejection::Malformed("encrypted assertions are not supported"));
    }

    // Exactly one assertion in the whole document, a direct child of the Response.
    let mut all = doc.descendants().filter(|n| is(*n, NS_ASSERTION, "Assertion"));
    let assertion = all.next().ok_or(Rejection::Malformed("no assertion"))?;
    if all.next().is_some() || assertion.parent() != Some(response) {
        return Err(Rejection::Malformed("the assertion must be the one child assertion of the response"));
    }
    // The only signatures allowed are those two elements' own.
    for sig in doc.descendants().filter(|n| is(*n, NS_DSIG, "Signature")) {
        if sig.parent() != Some(response) && sig.parent() != Some(assertion) {
            return Err(Rejection::Malformed("a signature elsewhere in the document"));
        }
    }
    let response_signed = xmldsig::signature_of(response)?.is_some();
    let assertion_signed = xmldsig::signature_of(assertion)?.is_some();
    if !response_signed && !assertion_signed {
        return Err(Rejection::NotSigned);
    }
    // A signature that is there must verify, even when the other one would suffice.
    if response_signed {
        xmldsig::verify_enveloped(doc, response, expect.keys)?;
    }
    if assertion_signed {
        xmldsig::verify_enveloped(doc, assertion, expect.keys)?;
    }

    // From here on every value comes from `assertion`, which a trusted key signed.
    if assertion.attribute("Version") != Some("2.0") {
        return Err(Rejection::Malformed("assertion version"));
    }
    let assertion_id = assertion.attribute("ID").ok_or(Rejection::Malformed("assertion without ID"))?.to_owned();
    let issuer = child(assertion, NS_ASSERTION, "Issuer").ok_or(Rejection::Issuer)?;
    if text(issuer) != expect.idp_entity_id {
        return Err(Rejection::Issuer);
    }
    let subject = child(assertion, NS_ASSERTION, "Subject").ok_or(Rejection::Malformed("no subject"))?;
    let name_id = child(subject, NS_ASSERTION, "NameID").ok_or(Rejection::Malformed("no NameID"))?;

    // Profiles §4.1.4.2: a bearer confirmation for our ACS, our request, still valid.
    let mut confirmed: Result<i64, Rejection> = Err(Rejection::Malformed("no bearer subject confirmation"));
    for sc in elements(subject).filter(|n| is(*n, NS_ASSERTION, "SubjectConfirmation")) {
        if sc.attribute("Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = child(sc, NS_ASSERTION, "SubjectConfirmationData") else { continue };
        confirmed = bearer(data, expect);
        if confirmed.is_ok() {
            break;
        }
    }
    let mut valid_until = confirmed?;

    // Profiles §4.1.4.2: the assertion must say the user authenticated.
    child(assertion, NS_ASSERTION, "AuthnStatement").ok_or(Rejection::Malformed("no AuthnStatement"))?;
    let conditions = child(assertion, NS_ASSERTION, "Conditions").ok_or(Rejection::Malformed("no conditions"))?;
    if let Some(until) = window(conditions, expect.now)? {
        valid_until = valid_until.min(until);
    }
    let restrictions: Vec<_> = elements(conditions).filter(|n| is(*n, NS_ASSERTION, "AudienceRestriction")).collect();
    // Every restriction must name us (Core §2.5.1.4), and there must be one.
    if restrictions.is_empty()
        || !restrictions
            .iter()
            .all(|r| elements(*r).any(|a| is(a, NS_ASSERTION, "Audience") && text(a) == expect.sp_entity_id))
    {
        return Err(Rejection::Audience);
    }

    let attribute = |name: &str| -> Option<String> {
        let statement = child(assertion, NS_ASSERTION, "AttributeStatement")?;
        let attr =
            elements(statement).find(|a| is(*a, NS_ASSERTION, "Attribute") && a.attribute("Name") == Some(name))?;
        elements(attr).filter(|v| is(*v, NS_ASSERTION, "AttributeValue")).map(text).find(|v| !v.is_empty())
    };
    let email = match expect.email_attribute {
        Some(name) => attribute(name),
        None => match name_id.attribute("Format") {
            None | Some(NAMEID_EMAIL) | Some(NAMEID_UNSPECIFIED) => Some(text(name_id)),
            Some(_) => None,
        },
    }
    .filter(|e| !e.is_empty())
    .ok_or(Rejection::NoEmail)?;
    let display_name = attribute("displayName").or_else(|| attribute("name"));
    Ok(Verified { assertion_id, name_id: text(name_id), email, display_name, valid_until })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_url_inflates_back_to_the_request_and_keeps_an_existing_query() {
        // GIVEN an IdP SSO URL with a query of its own
        let xml =
            authn_request("_abc", "2026-11-24T10:00:00Z", "https://idp.test/sso", "https://sp.test/acs", "sp", true);
        // WHEN the redirect URL is built
        let url = redirect_url("https://idp.test/sso?tenant=x", &xml, "relay");
        // THEN the query is extended and SAMLRequest inflates to the request
        assert!(url.starts_with("https://idp.test/sso?tenant=x&SAMLRequest="));
        let query = url.split_once('?').unwrap().1;
        let pairs: std::collections::HashMap<_, _> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        assert_eq!(pairs["RelayState"], "relay");
        let deflated = STANDARD.decode(&pairs["SAMLRequest"]).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&deflated[..]), &mut out).unwrap();
        assert_eq!(out, xml);
        assert!(xmldsig::parse(&out).is_ok());
    }

    #[test]
    fn idp_metadata_yields_entity_id_redirect_sso_url_and_signing_certificates() {
        let md = format!(
            r#"<md:EntityDescriptor xmlns:md="{NS_METADATA}" xmlns:ds="{NS_DSIG}" entityID="https://idp.test">
              <md:IDPSSODescriptor protocolSupportEnumeration="{NS_PROTOCOL}">
                <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
                <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
                  AQID
                </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
                <md:SingleSignOnService Binding="{BINDING_POST}" Location="https://idp.test/post"/>
                <md:SingleSignOnService Binding="{BINDING_REDIRECT}" Location="https://idp.test/redirect"/>
              </md:IDPSSODescriptor></md:EntityDescriptor>"#
        );
        let m = parse_idp_metadata(&md).unwrap();
        assert_eq!(m.entity_id, "https://idp.test");
        assert_eq!(m.sso_url, "https://idp.test/redirect");
        assert_eq!(m.certificates, vec![vec![1u8, 2, 3]]);
    }

    #[test]
    fn an_unsigned_response_is_refused_before_anything_is_read() {
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="r" Version="2.0" Destination="https://sp/acs" InResponseTo="q"><samlp:Status><samlp:StatusCode Value="{SUCCESS}"/></samlp:Status><saml:Assertion ID="a" Version="2.0"><saml:Issuer>idp</saml:Issuer></saml:Assertion></samlp:Response>"#
        );
        let expect = Expect {
            idp_entity_id: "idp",
            sp_entity_id: "sp",
            acs_url: "https://sp/acs",
            request_id: "q",
            now: 0,
            keys: &[],
            email_attribute: None,
        };
        assert_eq!(verify_response(&xml, &expect).unwrap_err(), Rejection::NotSigned);
    }
}
