//! XML Signature verification for the one profile SAML 2.0 identity providers use: an
//! enveloped signature that is a direct child of the element it signs, one `Reference` to
//! that element's own `ID`, the transforms enveloped-signature then exclusive C14N, SHA-256
//! or SHA-512 digests, RSA PKCS#1 v1.5 signatures, and a key the caller trusts (the document's
//! own `KeyInfo` is never used). Anything outside that profile is refused rather than
//! interpreted: that is what keeps signature wrapping out (see `saml` for the other half,
//! reading data only from the element verified here).
//!
//! Exclusive XML Canonicalization 1.0 (without comments) is implemented here over roxmltree,
//! with the prefixes taken from the source text (roxmltree resolves names to URIs, and the
//! signer's prefixes are part of what was signed).

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use roxmltree::{Document, Node, NodeType, ParsingOptions};

pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";
/// Far beyond any real SAML response; bounds the work a hostile document can cause.
const MAX_NODES: u32 = 20_000;
const MAX_DEPTH: usize = 64;
const MAX_INCLUSIVE_PREFIXES: usize = 16;
/// Namespace declarations and attributes a SAML document may carry. roxmltree's namespace
/// inheritance and duplicate-attribute checks are quadratic in these, so a document beyond
/// them is refused before it is parsed (real responses have tens).
const MAX_NAMESPACE_DECLARATIONS: usize = 128;
const MAX_ATTRIBUTES: usize = 4096;

/// Why a signature does not count. Deliberately coarse: the reason is logged, never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DsigError {
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    #[error("signature outside the supported profile: {0}")]
    Unsupported(&'static str),
    #[error("the reference does not name the signed element")]
    WrongReference,
    #[error("the signed element's ID is not unique in the document")]
    DuplicateId,
    #[error("digest mismatch: the signed element was changed")]
    DigestMismatch,
    #[error("no trusted key made this signature")]
    BadSignature,
}

/// Parse an untrusted document: no DTD (so no entities beyond XML's own), bounded size.
pub fn parse(xml: &str) -> Result<Document<'_>, String> {
    if xml.matches("xmlns").count() > MAX_NAMESPACE_DECLARATIONS || xml.matches('=').count() > MAX_ATTRIBUTES {
        return Err("too many namespace declarations or attributes".into());
    }
    let opts = ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..ParsingOptions::default() };
    Document::parse_with_options(xml, opts).map_err(|e| e.to_string())
}

/// An RSA public key from a trusted certificate (PKCS#1 `RSAPublicKey` DER).
#[derive(Clone)]
pub struct TrustedKey {
    rsa_public_key: Vec<u8>,
}

impl TrustedKey {
    /// The RSA key of an X.509 certificate (DER); at least 2048 bits. The certificate's own
    /// dates and issuer do not matter: SAML trusts the configured key itself.
    pub fn from_certificate_der(der: &[u8]) -> Result<TrustedKey, String> {
        use x509_cert::der::{Decode, Encode};
        let cert = x509_cert::Certificate::from_der(der).map_err(|_| "not an X.509 certificate".to_owned())?;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid.to_string() != RSA_ENCRYPTION_OID {
            return Err("the certificate's key is not an RSA key".into());
        }
        let spki_der = spki.to_der().map_err(|_| "unreadable public key".to_owned())?;
        let bits = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&spki_der)
            .map_err(|_| "unreadable RSA public key".to_owned())?
            .key_size_bits();
        if bits < 2048 {
            return Err("the certificate's RSA key is shorter than 2048 bits".into());
        }
        let rsa_public_key = spki.subject_public_key.as_bytes().ok_or("unreadable public key")?.to_vec();
        Ok(TrustedKey { rsa_public_key })
    }

    fn verifies(&self, alg: &'static signature::RsaParameters, message: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(alg, &self.rsa_public_key).verify(message, sig).is_ok()
    }
}

/// `node` is the element `{ns}local`.
pub fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

/// The element children of `node`.
pub fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

/// The `ds:Signature` that is a direct child of `element`, if it has one (two are refused).
pub fn signature_of<'a, 'i>(element: Node<'a, 'i>) -> Result<Option<Node<'a, 'i>>, DsigError> {
    let mut sigs = elements(element).filter(|n| is(*n, NS_DSIG, "Signature"));
    let first = sigs.next();
    if sigs.next().is_some() {
        return Err(DsigError::Malformed("two signatures on one element"));
    }
    Ok(first)
}

/// The only element child of `node` named `{NS_DSIG}local`, which must come next in order.
fn child<'a, 'i>(it: &mut impl Iterator<Item = Node<'a, 'i>>, local: &'static str) -> Result<Node<'a, 'i>, DsigError> {
    match it.next() {
        Some(n) if is(n, NS_DSIG, local) => Ok(n),
        _ => Err(DsigError::Malformed(local)),
    }
}

fn algorithm<'a>(node: Node<'a, '_>) -> Result<&'a str, DsigError> {
    node.attribute("Algorithm").ok_or(DsigError::Malformed("Algorithm"))
}

/// An exclusive C14N method (`CanonicalizationMethod` or `Transform`) and its prefix list.
fn exclusive_prefixes<'a>(node: Node<'a, '_>) -> Result<Vec<&'a str>, DsigError> {
    if algorithm(node)? != EXC_C14N {
        return Err(DsigError::Unsupported("canonicalization other than exclusive C14N without comments"));
    }
    let mut prefixes = Vec::new();
    for c in elements(node) {
        if !is(c, EXC_C14N, "InclusiveNamespaces") {
            return Err(DsigError::Malformed("unexpected element in a canonicalization method"));
        }
        let list = c.attribute("PrefixList").unwrap_or_default();
        prefixes.extend(list.split_ascii_whitespace().map(|p| if p == "#default" { "" } else { p }));
    }
    // Real signers list a handful (xs, xsi, saml); a long list only makes C14N expensive.
    if prefixes.len() > MAX_INCLUSIVE_PREFIXES || prefixes.iter().any(|p| p.len() > 64) {
        return Err(DsigError::Unsupported("an InclusiveNamespaces list longer than 16 prefixes"));
    }
    prefixes.sort_unstable();
    prefixes.dedup();
    Ok(prefixes)
}

fn base64(node: Node<'_, '_>) -> Result<Vec<u8>, DsigError> {
    let text: String = node.children().filter(Node::is_text).filter_map(|t| t.text()).collect();
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| DsigError::Malformed("base64"))
}

/// Verify that `element` carries a valid enveloped signature, as its direct child, by one of
/// `keys`, over `element` itself. Only `Ok` means the element's content is what the key's
/// holder signed.
pub fn verify_enveloped(doc: &Document<'_>, element: Node<'_, '_>, keys: &[TrustedKey]) -> Result<(), DsigError> {
    let sig = signature_of(element)?.ok_or(DsigError::Malformed("no signature"))?;
    let mut parts = elements(sig);
    let signed_info = child(&mut parts, "SignedInfo")?;
    let signature_value = child(&mut parts, "SignatureValue")?;

    let mut si = elements(signed_info);
    let c14n_method = child(&mut si, "CanonicalizationMethod")?;
    let si_prefixes = exclusive_prefixes(c14n_method)?;
    let alg = match algorithm(child(&mut si, "SignatureMethod")?)? {
        RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        RSA_SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return Err(DsigError::Unsupported("signature algorithm other than RSA-SHA256/512")),
    };
    let reference = child(&mut si, "Reference")?;
    if si.next().is_some() {
        return Err(DsigError::Unsupported("more than one reference"));
    }

    // The reference must name this very element, by an ID no other element has.
    let id = element.attribute("ID").ok_or(DsigError::Malformed("signed element without ID"))?;
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err(DsigError::WrongReference);
    }
    if doc.descendants().filter(|n| n.attribute("ID") == Some(id)).count() != 1 {
        return Err(DsigError::DuplicateId);
    }

    let mut r = elements(reference);
    let transforms = child(&mut r, "Transforms")?;
    let mut t = elements(transforms);
    match t.next() {
        Some(n) if is(n, NS_DSIG, "Transform") && algorithm(n)? == ENVELOPED => {}
        _ => return Err(DsigError::Unsupported("first transform must be enveloped-signature")),
    }
    let ref_prefixes = match t.next() {
        Some(n) if is(n, NS_DSIG, "Transform") => exclusive_prefixes(n)?,
        _ => return Err(DsigError::Unsupported("second transform must be exclusive C14N")),
    };
    if t.next().is_some() {
        return Err(DsigError::Unsupported("more than two transforms"));
    }
    let digest_alg = match algorithm(child(&mut r, "DigestMethod")?)? {
        SHA256 => &digest::SHA256,
        SHA512 => &digest::SHA512,
        _ => return Err(DsigError::Unsupported("digest other than SHA-256/512")),
    };
    let digest_value = base64(child(&mut r, "DigestValue")?)?;

    // The small SignedInfo first: a document no trusted key signed costs no digest of the
    // (possibly large) element.
    let signed = canonicalize(doc, signed_info, None, &si_prefixes)?;
    let value = base64(signature_value)?;
    if !keys.iter().any(|k| k.verifies(alg, &signed, &value)) {
        return Err(DsigError::BadSignature);
    }
    let content = canonicalize(doc, element, Some(sig), &ref_prefixes)?;
    if digest::digest(digest_alg, &content).as_ref() != digest_value.as_slice() {
        return Err(DsigError::DigestMismatch);
    }
    Ok(())
}

/// Exclusive XML Canonicalization 1.0 (no comments) of the subtree at `apex`, leaving out
/// `exclude` and everything under it (the enveloped-signature transform).
pub fn canonicalize(
    doc: &Document<'_>,
    apex: Node<'_, '_>,
    exclude: Option<Node<'_, '_>>,
    inclusive: &[&str],
) -> Result<Vec<u8>, DsigError> {
    let mut inclusive = inclusive.to_vec();
    inclusive.sort_unstable();
    inclusive.dedup();
    let mut c = Canon { source: doc.input_text(), exclude, inclusive: &inclusive, out: Vec::with_capacity(4096) };
    c.element(apex, &BTreeMap::new(), 0)?;
    Ok(c.out)
}

struct Canon<'s, 'x, 'a, 'i> {
    source: &'s str,
    exclude: Option<Node<'a, 'i>>,
    inclusive: &'x [&'x str],
    out: Vec<u8>,
}

impl<'a, 'i> Canon<'_, '_, 'a, 'i> {
    /// The qualified name as written in the source (`prefix:local` or `local`).
    fn element_qname(&self, node: Node<'_, '_>) -> Result<&str, DsigError> {
        let rest = self.source.get(node.range().start + 1..).ok_or(DsigError::Malformed("element position"))?;
        let end = rest.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(rest.len());
        Ok(&rest[..end])
    }

    fn element(
        &mut self,
        node: Node<'a, 'i>,
        rendered: &BTreeMap<String, String>,
        depth: usize,
    ) -> Result<(), DsigError> {
        if depth > MAX_DEPTH {
            return Err(DsigError::Malformed("nesting too deep"));
        }
        let qname = self.element_qname(node)?.to_owned();
        let prefix_of = |q: &str| q.split_once(':').map(|(p, _)| p.to_owned()).unwrap_or_default();

        // Attributes (namespace declarations are not among them in roxmltree), with their
        // written prefixes; sorted by namespace URI, then local name (C14N §2.2).
        let mut attrs = Vec::new();
        let mut utilized = vec![prefix_of(&qname)];
        for a in node.attributes() {
            let q = self.source.get(a.range_qname()).ok_or(DsigError::Malformed("attribute position"))?;
            if q.contains(':') {
                utilized.push(prefix_of(q));
            }
            attrs.push((a.namespace().unwrap_or(""), a.name(), q, a.value()));
        }
        attrs.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
        utilized.extend(self.inclusive.iter().map(|p| (*p).to_owned()));
        utilized.sort();
        utilized.dedup();

        let mut mine = rendered.clone();
        let mut decls = Vec::new();
        for p in utilized {
            if p == "xml" {
                continue;
            }
            let uri = node.namespaces().find(|ns| ns.name().unwrap_or("") == p).map(|ns| ns.uri());
            let uri = match (uri, p.is_empty()) {
                (Some(u), _) => u,
                (None, true) => "",
                // A prefix from the inclusive list that is not in scope is simply not rendered.
                (None, false) if self.inclusive.binary_search(&p.as_str()).is_ok() => continue,
                (None, false) => return Err(DsigError::Malformed("undeclared prefix")),
            };
            let already = rendered.get(&p).map(String::as_str);
            if already == Some(uri) || (p.is_empty() && uri.is_empty() && already.is_none()) {
                continue;
            }
            decls.push((p.clone(), uri.to_owned()));
            mine.insert(p, uri.to_owned());
        }

        self.out.push(b'<');
        self.out.extend_from_slice(qname.as_bytes());
        for (p, uri) in &decls {
            if p.is_empty() {
                self.out.extend_from_slice(b" xmlns=\"");
            } else {
                self.out.extend_from_slice(b" xmlns:");
                self.out.extend_from_slice(p.as_bytes());
                self.out.extend_from_slice(b"=\"");
            }
            escape_attr(uri, &mut self.out);
            self.out.push(b'"');
        }
        for (_, _, q, v) in &attrs {
            self.out.push(b' ');
            self.out.extend_from_slice(q.as_bytes());
            self.out.extend_from_slice(b"=\"");
            escape_attr(v, &mut self.out);
            self.out.push(b'"');
        }
        self.out.push(b'>');
        for c in node.children() {
            match c.node_type() {
                NodeType::Element if Some(c) == self.exclude => {}
                NodeType::Element => self.element(c, &mine, depth + 1)?,
                NodeType::Text => escape_text(c.text().unwrap_or_default(), &mut self.out),
                NodeType::PI => {
                    let pi = c.pi().ok_or(DsigError::Malformed("processing instruction"))?;
                    self.out.extend_from_slice(b"<?");
                    self.out.extend_from_slice(pi.target.as_bytes());
                    if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                        self.out.push(b' ');
                        self.out.extend_from_slice(v.as_bytes());
                    }
                    self.out.extend_from_slice(b"?>");
                }
                NodeType::Comment | NodeType::Root => {}
            }
        }
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(qname.as_bytes());
        self.out.push(b'>');
        Ok(())
    }
}

fn escape_text(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

fn escape_attr(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\t' => out.extend_from_slice(b"&#x9;"),
            '\n' => out.extend_from_slice(b"&#xA;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, inclusive: &[&str]) -> String {
        let doc = parse(xml).unwrap();
        String::from_utf8(canonicalize(&doc, doc.root_element(), None, inclusive).unwrap()).unwrap()
    }

    #[test]
    fn exclusive_c14n_renders_only_visibly_used_namespaces_sorted_attributes_and_expanded_empty_elements() {
        // GIVEN a subtree with an unused namespace, unsorted attributes and an empty element
        let xml = r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:u="urn:unused" z="1" b:y="2" a="3"><b:c/><d xmlns="urn:d">x &amp; &lt;y&gt;</d></a:r>"#;
        // WHEN canonicalized THEN only a and b (used) are declared, where first used
        assert_eq!(
            c14n(xml, &[]),
            r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" a="3" z="1" b:y="2"><b:c></b:c><d xmlns="urn:d">x &amp; &lt;y&gt;</d></a:r>"#
        );
        // AND an inclusive prefix is rendered even when unused
        assert!(c14n(xml, &["u"]).starts_with(r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:u="urn:unused""#));
    }

    #[test]
    fn exclusive_c14n_of_a_subtree_pulls_in_the_ancestors_declarations_it_uses_and_drops_comments() {
        let xml = r#"<p:root xmlns:p="urn:p" xmlns:q="urn:q"><p:child q:at="v&#9;w"><!-- gone --><p:leaf/></p:child></p:root>"#;
        let doc = parse(xml).unwrap();
        let child = doc.root_element().first_element_child().unwrap();
        let out = String::from_utf8(canonicalize(&doc, child, None, &[]).unwrap()).unwrap();
        assert_eq!(out, r#"<p:child xmlns:p="urn:p" xmlns:q="urn:q" q:at="v&#x9;w"><p:leaf></p:leaf></p:child>"#);
    }

    #[test]
    fn documents_built_to_make_parsing_or_canonicalization_quadratic_are_refused() {
        // GIVEN a root declaring 200 prefixes (roxmltree copies them into every child)
        let decls: String = (0..200).map(|i| format!(" xmlns:n{i}=\"u\"")).collect();
        assert!(parse(&format!("<r{decls}><x/></r>")).is_err());
        // AND an element with 5,000 attributes
        let attrs: String = (0..5000).map(|i| format!(" a{i}=\"v\"")).collect();
        assert!(parse(&format!("<r{attrs}/>")).is_err());
        // AND a canonicalization method listing 17 inclusive prefixes
        let list: Vec<String> = (0..17).map(|i| format!("p{i}")).collect();
        let xml = format!(
            r#"<t xmlns="{NS_DSIG}" Algorithm="{EXC_C14N}"><InclusiveNamespaces xmlns="{EXC_C14N}" PrefixList="{}"/></t>"#,
            list.join(" ")
        );
        let doc = parse(&xml).unwrap();
        assert!(matches!(exclusive_prefixes(doc.root_element()), Err(DsigError::Unsupported(_))));
    }

    #[test]
    fn a_document_type_declaration_is_refused() {
        assert!(parse(r#"<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>"#).is_err());
    }
}
