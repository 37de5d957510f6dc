"""A real SAML 2.0 identity provider for Bulwark's SAML SSO tests: pysaml2 (pinned in
requirements.txt) with Debian's xmlsec1 binary doing every signature, on a loopback port,
served by the standard library's ThreadingHTTPServer. It also produces hostile responses
(the `variant` query parameter) so the service provider is attacked with documents that a
real signer really signed.

Configuration comes in IDP_CONFIG (JSON):
  {"acs_url": "<SP ACS URL>", "sp_entity_prefix": "<string>", "email": "<default user>",
   "port": N (optional; 0, a free port, when absent)}
Prints one JSON line once it listens:
  {"entity_id", "sso_url", "metadata_url", "certificate", "other_certificate"}
and nothing else on stdout; requests are logged to stderr. Runs until killed.

Endpoints:
  GET /metadata  the IdP's metadata (pysaml2's own metadata builder)
  GET /sso?SAMLRequest=..&RelayState=..[&email=..][&variant=..][&forged_email=..]
      HTTP-Redirect binding in, HTTP-POST binding out: an auto-submitting HTML form to acs_url.

Variants (comma-separated, combinable; each `name` or `name=value`):
  sign=assertion (default) | sign=response | sign=both | sign=none
  key=other            sign with the second keypair (its cert, other_certificate, in KeyInfo)
  expired              Conditions and SubjectConfirmationData NotOnOrAfter now-10min,
                       NotBefore now-20min
  not_yet_valid        NotBefore now+10min
  audience=wrong       Audience https://wrong.example/sp
  destination=wrong    Response Destination https://wrong.example/acs
  recipient=wrong      SubjectConfirmationData Recipient https://wrong.example/acs
  issuer=wrong         both Issuers https://evil.example/idp (signed with the real key)
  unsolicited          no InResponseTo anywhere
  in_response_to=<id>  that id instead of the request's
  status=responder     Status Responder, no assertion (signed only with sign=response|both)
  attr_email=<value>   the email Attribute carries this value, the NameID stays `email`
  comment=<N>          after signing, `<!---->` inserted after N characters of the NameID
                       text and of the email AttributeValue (c14n drops comments, so the
                       signature still verifies)
  wrap=before|after|extensions|object|same_id   XML signature wrapping, see wrap() below;
                       needs the `forged_email` query parameter.
"""

import base64
import html
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import urllib.parse
import warnings
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# pysaml2 7.5 touches cryptography's deprecated CFB mode at import time; keep stderr quiet.
warnings.filterwarnings("ignore", message=".*CFB has been moved.*")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, samlp, xmldsig
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.s_utils import sid
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary, pre_signature_part, read_cert_from_file

NS = {
    "samlp": samlp.NAMESPACE,
    "saml": saml.NAMESPACE,
    "ds": xmldsig.NAMESPACE,
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
NAMEID_EMAIL = saml.NAMEID_FORMAT_EMAILADDRESS  # urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress
ASSERTION = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
RESPONSE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
WRONG_AUDIENCE = "https://wrong.example/sp"
WRONG_URL = "https://wrong.example/acs"
EVIL_ISSUER = "https://evil.example/idp"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def make_keypair(directory, name, common_name):
    """A fresh self-signed RSA-2048 keypair; returns (key path, cert path, cert PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(directory, f"{name}.key")
    cert_path = os.path.join(directory, f"{name}.crt")
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    with open(cert_path, "w") as f:
        f.write(pem)
    return key_path, cert_path, pem


def ts(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_variants(raw):
    """'sign=both,expired' -> {'sign': 'both', 'expired': True}."""
    out = {}
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        out[name.strip()] = value.strip() if eq else True
    return out


KNOWN = {
    "sign", "key", "expired", "not_yet_valid", "audience", "destination", "recipient", "issuer",
    "unsolicited", "in_response_to", "status", "attr_email", "comment", "wrap",
}


class Idp:
    def __init__(self, config, port):
        self.acs_url = config["acs_url"]
        self.sp_entity_prefix = config["sp_entity_prefix"]
        self.email = config["email"]
        base = f"http://127.0.0.1:{port}"
        self.entity_id = f"{base}/metadata"
        self.sso_url = f"{base}/sso"
        self.metadata_url = f"{base}/metadata"
        self.tmp = tempfile.mkdtemp(prefix="bulwark-pysaml2-idp-")
        self.key_file, self.cert_file, self.cert_pem = make_keypair(self.tmp, "idp", "bulwark-test-idp-pysaml2")
        self.other_key_file, self.other_cert_file, self.other_cert_pem = make_keypair(
            self.tmp, "other", "bulwark-test-idp-pysaml2-other"
        )
        conf = IdPConfig()
        conf.load(
            {
                "entityid": self.entity_id,
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                        "name_id_format": [NAMEID_EMAIL],
                        "want_authn_requests_signed": False,
                    }
                },
                "key_file": self.key_file,
                "cert_file": self.cert_file,
                "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
                "metadata": {},
                "accepted_time_diff": 60,
            }
        )
        self.server = Server(config=conf)
        self.cert_b64 = read_cert_from_file(self.cert_file, "pem")
        self.other_cert_b64 = read_cert_from_file(self.other_cert_file, "pem")
        self.lock = threading.Lock()

    def metadata(self):
        ed = entity_descriptor(self.server.config)
        return ed.to_string(nspair={"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": xmldsig.NAMESPACE}).decode()

    def parse_request(self, saml_request):
        # pysaml2's own receiver: inflate, base64, schema classes, Destination check.
        req = self.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        return req.message

    def sign(self, xml, node_name, node_id, other):
        key = self.other_key_file if other else self.key_file
        # pysaml2's SecurityContext runs `xmlsec1 --sign --privkey-pem key --id-attr:ID node --node-id id`.
        return self.server.sec.sign_statement(xml, node_name, key_file=key, node_id=node_id)

    def response(self, request, email, v, forged_email):
        """The signed Response XML (str) for an AuthnRequest, with the variants applied."""
        now = datetime.now(timezone.utc)
        sp_entity_id = request.issuer.text.strip()
        not_before = now - timedelta(minutes=1)
        not_on_or_after = now + timedelta(minutes=5)
        if v.get("expired"):
            not_before = now - timedelta(minutes=20)
            not_on_or_after = now - timedelta(minutes=10)
        if v.get("not_yet_valid"):
            not_before = now + timedelta(minutes=10)
        issuer = EVIL_ISSUER if v.get("issuer") == "wrong" else self.entity_id
        in_response_to = None if v.get("unsolicited") else (v.get("in_response_to") or request.id)
        if v.get("in_response_to") is True:
            raise ValueError("in_response_to needs a value")
        sign = v.get("sign", "assertion")
        if sign not in ("assertion", "response", "both", "none"):
            raise ValueError(f"unknown sign={sign}")
        other = v.get("key") == "other"
        cert_b64 = self.other_cert_b64 if other else self.cert_b64

        def make_issuer():
            return saml.Issuer(text=issuer, format=saml.NAMEID_FORMAT_ENTITY)

        assertion = None
        if v.get("status") == "responder":
            status = samlp.Status(
                status_code=samlp.StatusCode(value=samlp.STATUS_RESPONDER),
                status_message=samlp.StatusMessage(text="The identity provider could not sign the user in"),
            )
        else:
            status = samlp.Status(status_code=samlp.StatusCode(value=samlp.STATUS_SUCCESS))
            attr_email = v.get("attr_email") if isinstance(v.get("attr_email"), str) else email
            assertion = saml.Assertion(
                id=sid(),
                version="2.0",
                issue_instant=ts(now),
                issuer=make_issuer(),
                subject=saml.Subject(
                    name_id=saml.NameID(format=NAMEID_EMAIL, text=email),
                    subject_confirmation=[
                        saml.SubjectConfirmation(
                            method=saml.SCM_BEARER,
                            subject_confirmation_data=saml.SubjectConfirmationData(
                                recipient=WRONG_URL if v.get("recipient") == "wrong" else self.acs_url,
                                in_response_to=in_response_to,
                                not_on_or_after=ts(not_on_or_after),
                            ),
                        )
                    ],
                ),
                conditions=saml.Conditions(
                    not_before=ts(not_before),
                    not_on_or_after=ts(not_on_or_after),
                    audience_restriction=[
                        saml.AudienceRestriction(
                            audience=[
                                saml.Audience(text=WRONG_AUDIENCE if v.get("audience") == "wrong" else sp_entity_id)
                            ]
                        )
                    ],
                ),
                authn_statement=[
                    saml.AuthnStatement(
                        authn_instant=ts(now),
                        session_index=sid(),
                        authn_context=saml.AuthnContext(
                            authn_context_class_ref=saml.AuthnContextClassRef(text=saml.AUTHN_PASSWORD_PROTECTED)
                        ),
                    )
                ],
                attribute_statement=[
                    saml.AttributeStatement(
                        attribute=[
                            saml.Attribute(
                                name="email",
                                name_format=saml.NAME_FORMAT_BASIC,
                                attribute_value=[saml.AttributeValue(text=attr_email)],
                            )
                        ]
                    )
                ],
            )
        response = samlp.Response(
            id=sid(),
            version="2.0",
            issue_instant=ts(now),
            destination=WRONG_URL if v.get("destination") == "wrong" else self.acs_url,
            in_response_to=in_response_to,
            issuer=make_issuer(),
            status=status,
            assertion=[assertion] if assertion is not None else [],
        )
        to_sign = []
        algs = {"sign_alg": xmldsig.SIG_RSA_SHA256, "digest_alg": xmldsig.DIGEST_SHA256}
        if assertion is not None and sign in ("assertion", "both"):
            assertion.signature = pre_signature_part(assertion.id, cert_b64, **algs)
            to_sign.append((ASSERTION, assertion.id))
        if sign in ("response", "both"):
            response.signature = pre_signature_part(response.id, cert_b64, **algs)
            to_sign.append((RESPONSE, response.id))  # after the assertion: the outer one last
        xml = response.to_string(nspair=NS).decode()
        for node_name, node_id in to_sign:
            xml = self.sign(xml, node_name, node_id, other)
        xml = re.sub(r"^<\?xml[^>]*\?>\s*", "", xml)

        if "comment" in v:
            xml = comment_attack(xml, int(v["comment"]))
        if "wrap" in v:
            if assertion is None:
                raise ValueError("wrap needs an assertion")
            if not forged_email:
                raise ValueError("wrap needs the forged_email query parameter")
            xml = wrap(xml, v["wrap"], forged_email)
        return xml


ASSERTION_RE = re.compile(r"<saml:Assertion\b.*?</saml:Assertion>", re.S)
SIGNATURE_RE = re.compile(r"<ds:Signature\b.*?</ds:Signature>", re.S)
NAMEID_RE = re.compile(r"(<saml:NameID\b[^>]*>)(.*?)(</saml:NameID>)", re.S)
EMAIL_VALUE_RE = re.compile(
    r'(<saml:Attribute\b[^>]*Name="email"[^>]*>\s*<saml:AttributeValue\b[^>]*>)(.*?)(</saml:AttributeValue>)', re.S
)


def comment_attack(xml, n):
    """`<!---->` after n characters of the NameID text and of the email AttributeValue."""

    def cut(m):
        text = html.unescape(m.group(2))
        return m.group(1) + html.escape(text[:n], quote=False) + "<!---->" + html.escape(text[n:], quote=False) + m.group(3)

    xml = NAMEID_RE.sub(cut, xml, count=1)
    return EMAIL_VALUE_RE.sub(cut, xml, count=1)


def wrap(xml, how, forged_email):
    """XML signature wrapping. The signed assertion (S, with its enveloped ds:Signature) is left
    byte for byte as xmlsec1 signed it; F is an unsigned copy of S: its ds:Signature removed,
    a new ID, NameID and email AttributeValue = forged_email.
      before      Response: Issuer, Status, F, S
      after       Response: Issuer, Status, S, F
      extensions  Response: Issuer, samlp:Extensions{S}, Status, F   (F where S was)
      object      Response: Issuer, Status, F' where F' = F plus, right after its Issuer, a
                  ds:Signature that is a copy of S's ds:Signature (SignedInfo with Reference
                  URI="#<S's ID>", SignatureValue, KeyInfo) with a ds:Object appended holding S
                  whole (its own ds:Signature included). S's own signature therefore still
                  verifies (the enveloped transform removes only S's ds:Signature); the copy
                  around it does not (its enveloped transform removes the ds:Object, i.e. S).
      same_id     Response: Issuer, Status, F, S with F's ID = S's ID
    """
    found = ASSERTION_RE.findall(xml)
    if len(found) != 1:
        raise ValueError("expected exactly one assertion to wrap")
    signed = found[0]
    sig = SIGNATURE_RE.search(signed)
    if sig is None:
        raise ValueError("wrap needs a signed assertion (sign=assertion or sign=both)")
    signed_id = re.search(r'\bID="([^"]*)"', signed).group(1)
    forged = signed.replace(sig.group(0), "", 1)
    if how != "same_id":
        forged = forged.replace(f'ID="{signed_id}"', f'ID="{sid()}"', 1)
    value = html.escape(forged_email, quote=False)
    forged = NAMEID_RE.sub(lambda m: m.group(1) + value + m.group(3), forged, count=1)
    forged = EMAIL_VALUE_RE.sub(lambda m: m.group(1) + value + m.group(3), forged, count=1)
    if how == "before" or how == "same_id":
        return xml.replace(signed, forged + signed, 1)
    if how == "after":
        return xml.replace(signed, signed + forged, 1)
    if how == "extensions":
        xml = xml.replace(signed, forged, 1)
        return xml.replace("<samlp:Status>", f"<samlp:Extensions>{signed}</samlp:Extensions><samlp:Status>", 1)
    if how == "object":
        carried = sig.group(0)[: -len("</ds:Signature>")] + f"<ds:Object>{signed}</ds:Object></ds:Signature>"
        forged = re.sub(r"(</saml:Issuer>)", lambda m: m.group(1) + carried, forged, count=1)
        return xml.replace(signed, forged, 1)
    raise ValueError(f"unknown wrap={how}")


def post_form(acs_url, saml_response_xml, relay_state):
    value = base64.b64encode(saml_response_xml.encode()).decode()
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Signing in</title></head><body>\n"
        f'<form method="post" action="{html.escape(acs_url)}">\n'
        f'<input type="hidden" name="SAMLResponse" value="{html.escape(value)}">\n'
        f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}">\n'
        '<noscript><button type="submit">Continue</button></noscript>\n'
        "</form>\n<script>document.forms[0].submit();</script>\n</body></html>\n"
    )


def make_handler(idp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            log("pysaml2-idp:", fmt % args)

        def reply(self, code, body, ctype="text/plain; charset=utf-8"):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/metadata":
                return self.reply(200, idp.metadata(), "application/samlmetadata+xml")
            if url.path != "/sso":
                return self.reply(404, "not found\n")
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            one = lambda name: query.get(name, [None])[-1]  # noqa: E731
            saml_request = one("SAMLRequest")
            if not saml_request:
                return self.reply(400, "SAMLRequest missing\n")
            try:
                request = idp.parse_request(saml_request)
            except Exception as e:  # noqa: BLE001
                log("pysaml2-idp: bad AuthnRequest:", repr(e))
                return self.reply(400, "bad AuthnRequest\n")
            issuer = request.issuer.text.strip() if request.issuer is not None and request.issuer.text else ""
            if not issuer.startswith(idp.sp_entity_prefix):
                log("pysaml2-idp: refused SP", issuer)
                return self.reply(400, "unknown service provider\n")
            if request.assertion_consumer_service_url and request.assertion_consumer_service_url != idp.acs_url:
                log("pysaml2-idp: note: AssertionConsumerServiceURL", request.assertion_consumer_service_url,
                    "differs from acs_url; answering to acs_url")
            variants = parse_variants(one("variant"))
            unknown = set(variants) - KNOWN
            if unknown:
                return self.reply(400, f"unknown variant {sorted(unknown)}\n")
            try:
                xml = idp.response(request, one("email") or idp.email, variants, one("forged_email"))
            except ValueError as e:
                return self.reply(400, f"{e}\n")
            log("pysaml2-idp: answered", request.id, "for", issuer, "variants", variants)
            return self.reply(200, post_form(idp.acs_url, xml, one("RelayState") or ""), "text/html; charset=utf-8")

    return Handler


def main():
    config = json.loads(os.environ["IDP_CONFIG"])
    httpd = ThreadingHTTPServer(("127.0.0.1", int(config.get("port", 0))), None)
    port = httpd.server_address[1]
    idp = Idp(config, port)
    httpd.RequestHandlerClass = make_handler(idp)
    print(
        json.dumps(
            {
                "entity_id": idp.entity_id,
                "sso_url": idp.sso_url,
                "metadata_url": idp.metadata_url,
                "certificate": idp.cert_pem,
                "other_certificate": idp.other_cert_pem,
            }
        ),
        flush=True,
    )
    # Killed (SIGTERM) or interrupted: leave no key files behind in the temp dir.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(idp.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
