#!/usr/bin/env bash
# Self-check of the two SAML test identity providers (tests/idp/saml/samlify and
# tests/idp/saml/pysaml2), independent of Bulwark: starts each on loopback, sends each an
# AuthnRequest the way the SP does (HTTP-Redirect: raw DEFLATE + base64, appended to an sso_url
# that already has a query), takes SAMLResponse out of the auto-post form, and checks the
# signatures with Debian's xmlsec1, for the default response and every hostile variant.
# Prints a table and "N passed, N failed"; exits non-zero when a check fails.
# Needs what scripts/setup installs (.venv-saml, xmlsec1, the samlify node_modules).
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v xmlsec1 >/dev/null || { echo "selfcheck: xmlsec1 missing (run scripts/setup)" >&2; exit 1; }
[ -x .venv-saml/bin/python ] || { echo "selfcheck: .venv-saml missing (run scripts/setup)" >&2; exit 1; }
[ -d tests/idp/saml/samlify/node_modules ] || { echo "selfcheck: samlify node_modules missing (run scripts/setup)" >&2; exit 1; }

exec python3 - "$@" <<'PY'
import base64, datetime, html, json, os, re, select, subprocess, sys, tempfile, urllib.parse
import urllib.request, urllib.error, uuid, zlib
import xml.etree.ElementTree as ET

ACS = "http://127.0.0.1:9/v1/sso/saml/acs"         # never contacted
PREFIX = "http://127.0.0.1:9/"
SP = "http://127.0.0.1:9/v1/sso/acme/saml/metadata"
EMAIL = "alice@corp.test"
USER = "bob+sso@corp.test"
FORGED = "admin@corp.test"
P = "urn:oasis:names:tc:SAML:2.0:protocol"
A = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
ASSERTION_SIG = "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"
RESPONSE_SIG = "/*[local-name()='Response']/*[local-name()='Signature']"
OBJECT_SIG = "//*[local-name()='Object']/*[local-name()='Assertion']/*[local-name()='Signature']"
tmp = tempfile.mkdtemp(prefix="saml-selfcheck-")
rows, procs = [], []


def start(name, cmd):
    log = open(os.path.join(tmp, f"{name}.stderr"), "w")
    env = dict(os.environ, IDP_CONFIG=json.dumps({"acs_url": ACS, "sp_entity_prefix": PREFIX, "email": EMAIL}))
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    procs.append(p)
    ready, _, _ = select.select([p.stdout], [], [], 60)
    if not ready:
        sys.exit(f"{name}: no JSON line within 60 s")
    info = json.loads(p.stdout.readline())
    for key in ("certificate", "other_certificate"):
        if key in info:
            with open(os.path.join(tmp, f"{name}-{key}.pem"), "w") as f:
                f.write(info[key])
    return info


def authn_request(sso):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rid = "_" + uuid.uuid4().hex
    xml = (
        f'<samlp:AuthnRequest xmlns:samlp="{P}" xmlns:saml="{A}" ID="{rid}" Version="2.0" IssueInstant="{now}" '
        f'Destination="{sso}" AssertionConsumerServiceURL="{ACS}" '
        'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
        f"<saml:Issuer>{SP}</saml:Issuer>"
        '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>'
        "</samlp:AuthnRequest>"
    )
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return rid, base64.b64encode(c.compress(xml.encode()) + c.flush()).decode()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sso(info, query):
    """GET sso_url?<query>&SAMLRequest=..&RelayState=..; returns (status, request id, XML, relay)."""
    rid, req = authn_request(info["sso_url"])
    relay = "state&x=1 \"quoted\""
    url = f"{info['sso_url']}?{query}&SAMLRequest={urllib.parse.quote(req, safe='')}&RelayState={urllib.parse.quote(relay, safe='')}"
    status, body = get(url)
    if status != 200:
        return status, rid, body, None
    assert f'<form method="post" action="{html.escape(ACS)}">' in body, body
    value = re.search(r'name="SAMLResponse" value="([^"]*)"', body).group(1)
    echoed = html.unescape(re.search(r'name="RelayState" value="([^"]*)"', body).group(1))
    return status, rid, base64.b64decode(html.unescape(value)).decode(), echoed == relay


def xmlsec(xml, cert, xpath=None):
    """'OK' / 'FAIL' / 'ERROR: ...' from xmlsec1 --verify."""
    path = os.path.join(tmp, "doc.xml")
    with open(path, "w") as f:
        f.write(xml)
    cmd = ["xmlsec1", "--verify", "--pubkey-cert-pem", cert,
           "--id-attr:ID", f"{A}:Assertion", "--id-attr:ID", f"{P}:Response"]
    if xpath:
        cmd += ["--node-xpath", xpath]
    r = subprocess.run(cmd + [path], capture_output=True, text=True)
    if r.returncode == 0 and "OK" in r.stderr.splitlines():
        return "OK"
    if "FAIL" in r.stderr.splitlines():
        return "FAIL"
    err = [l for l in r.stderr.splitlines() if l.startswith("Error:")]
    return "ERROR: " + (err[0] if err else r.stderr.strip()[-80:])


def check(idp, variant, what, ok, detail=""):
    rows.append((idp, variant, what, "PASS" if ok else "FAIL", detail))


def tree(xml):
    return ET.fromstring(xml)


def texts(xml, path):
    return [e.text for e in tree(xml).iterfind(path, {"samlp": P, "saml": A, "ds": DS})]


def common(idp, variant, info, rid, xml, relay_ok, email):
    root = tree(xml)
    check(idp, variant, "RelayState echoed", relay_ok)
    nameid = texts(xml, "saml:Assertion/saml:Subject/saml:NameID")
    check(idp, variant, "NameID = email", nameid == [email], str(nameid))
    attr = texts(xml, "saml:Assertion/saml:AttributeStatement/saml:Attribute[@Name='email']/saml:AttributeValue")
    check(idp, variant, "email attribute = email", attr == [email], str(attr))
    scd = root.find(f"{{{A}}}Assertion/{{{A}}}Subject/{{{A}}}SubjectConfirmation/{{{A}}}SubjectConfirmationData")
    aud = texts(xml, "saml:Assertion/saml:Conditions/saml:AudienceRestriction/saml:Audience")
    check(idp, variant, "Destination/Recipient/Audience/InResponseTo",
          root.get("Destination") == ACS and scd.get("Recipient") == ACS and aud == [SP]
          and root.get("InResponseTo") == rid and scd.get("InResponseTo") == rid)
    issuers = texts(xml, "saml:Issuer") + texts(xml, "saml:Assertion/saml:Issuer")
    check(idp, variant, "Issuers = entity_id", issuers == [info["entity_id"]] * 2, str(issuers))


def metadata(idp, info):
    status, body = get(info["metadata_url"])
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    root = tree(body)
    sso_ok = any(e.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" and e.get("Location") == info["sso_url"]
                 for e in root.iter(f"{{{md}}}SingleSignOnService"))
    cert_b64 = "".join(info["certificate"].strip().splitlines()[1:-1])
    certs = ["".join((e.text or "").split()) for e in root.iter(f"{{{DS}}}X509Certificate")]
    check(idp, "-", "GET /metadata: entityID, IDPSSODescriptor, SSO redirect, signing cert",
          status == 200 and root.get("entityID") == info["entity_id"] and root.find(f"{{{md}}}IDPSSODescriptor") is not None
          and sso_ok and cert_b64 in certs)


def refused(idp, info):
    rid, req = authn_request(info["sso_url"])
    xml = zlib.decompress(base64.b64decode(req), -15).decode().replace(SP, "https://stranger.example/sp")
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    other = base64.b64encode(c.compress(xml.encode()) + c.flush()).decode()
    status, _ = get(f"{info['sso_url']}?SAMLRequest={urllib.parse.quote(other, safe='')}&RelayState=x")
    check(idp, "-", "SP outside sp_entity_prefix refused (400)", status == 400, str(status))


try:
    # ---------------------------------------------------------------- samlify
    idp = "samlify"
    info = start(idp, ["node", "tests/idp/saml/samlify/server.mjs"])
    cert = os.path.join(tmp, "samlify-certificate.pem")
    metadata(idp, info)
    refused(idp, info)
    for variant in ("default", "sign_response", "sign_both"):
        q = f"email={urllib.parse.quote(USER)}" + ("" if variant == "default" else f"&variant={variant}")
        status, rid, xml, relay_ok = sso(info, q)
        if status != 200:
            check(idp, variant, "200", False, xml[:80]); continue
        common(idp, variant, info, rid, xml, relay_ok, USER)
        a, r = xmlsec(xml, cert, ASSERTION_SIG), xmlsec(xml, cert, RESPONSE_SIG)
        want_a = "OK" if variant != "sign_response" else "ERROR"
        want_r = "OK" if variant != "default" else "ERROR"
        check(idp, variant, f"xmlsec1 assertion signature {want_a}, response signature {want_r}",
              a.startswith(want_a) and r.startswith(want_r), f"assertion {a[:5]}, response {r[:5]}")
    status, rid, xml, relay_ok = sso(info, "variant=sign_assertion")
    check(idp, "(no email param)", "NameID = configured default email", texts(xml, "saml:Assertion/saml:Subject/saml:NameID") == [EMAIL])

    # ---------------------------------------------------------------- pysaml2
    idp = "pysaml2"
    info = start(idp, [".venv-saml/bin/python", "tests/idp/saml/pysaml2/idp.py"])
    cert = os.path.join(tmp, "pysaml2-certificate.pem")
    other = os.path.join(tmp, "pysaml2-other_certificate.pem")
    metadata(idp, info)
    refused(idp, info)

    def run(variant, email=USER, forged=None):
        q = f"email={urllib.parse.quote(email)}"
        if variant != "default":
            q += f"&variant={urllib.parse.quote(variant, safe='=,')}"
        if forged:
            q += f"&forged_email={urllib.parse.quote(forged)}"
        status, rid, xml, relay_ok = sso(info, q)
        if status != 200:
            check(idp, variant, "200", False, xml[:80])
            return None, None, None
        return rid, xml, relay_ok

    rid, xml, relay_ok = run("default")
    common(idp, "default", info, rid, xml, relay_ok, USER)
    check(idp, "default", "xmlsec1: assertion OK, no response signature",
          xmlsec(xml, cert, ASSERTION_SIG) == "OK" and xmlsec(xml, cert, RESPONSE_SIG).startswith("ERROR"))
    check(idp, "default", "signature: rsa-sha256, sha256, exc-c14n, KeyInfo cert",
          all(s in xml for s in ("xmldsig-more#rsa-sha256", "xmlenc#sha256", "xml-exc-c14n#", "<ds:X509Certificate>")))
    rid, xml, _ = run("sign=response")
    check(idp, "sign=response", "xmlsec1: response OK, assertion unsigned",
          xmlsec(xml, cert, RESPONSE_SIG) == "OK" and xmlsec(xml, cert, ASSERTION_SIG).startswith("ERROR"))
    rid, xml, _ = run("sign=both")
    check(idp, "sign=both", "xmlsec1: assertion OK and response OK",
          xmlsec(xml, cert, ASSERTION_SIG) == "OK" and xmlsec(xml, cert, RESPONSE_SIG) == "OK")
    rid, xml, _ = run("sign=none")
    check(idp, "sign=none", "no Signature element", "Signature" not in xml)
    rid, xml, _ = run("key=other")
    a1, a2 = xmlsec(xml, cert, ASSERTION_SIG), xmlsec(xml, other, ASSERTION_SIG)
    check(idp, "key=other", "FAIL with metadata cert, OK with other_certificate", a1 == "FAIL" and a2 == "OK", f"{a1} / {a2}")
    other_b64 = "".join(open(other).read().strip().splitlines()[1:-1])
    check(idp, "key=other", "KeyInfo carries other_certificate", other_b64 in "".join(xml.split()))

    now = datetime.datetime.now(datetime.timezone.utc)
    def at(s):
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    def times(xml):
        r = tree(xml)
        c = r.find(f"{{{A}}}Assertion/{{{A}}}Conditions")
        s = r.find(f"{{{A}}}Assertion/{{{A}}}Subject/{{{A}}}SubjectConfirmation/{{{A}}}SubjectConfirmationData")
        return at(c.get("NotBefore")), at(c.get("NotOnOrAfter")), at(s.get("NotOnOrAfter"))
    rid, xml, _ = run("expired")
    nb, na, sna = times(xml)
    check(idp, "expired", "NotOnOrAfter ~now-10min, NotBefore ~now-20min; signed OK",
          abs((na - now).total_seconds() + 600) < 60 and abs((sna - now).total_seconds() + 600) < 60
          and abs((nb - now).total_seconds() + 1200) < 60 and xmlsec(xml, cert, ASSERTION_SIG) == "OK")
    rid, xml, _ = run("not_yet_valid")
    nb, na, sna = times(xml)
    check(idp, "not_yet_valid", "NotBefore ~now+10min; signed OK",
          abs((nb - now).total_seconds() - 600) < 60 and xmlsec(xml, cert, ASSERTION_SIG) == "OK")
    for variant, test in (
        ("audience=wrong", lambda x, r: texts(x, "saml:Assertion/saml:Conditions/saml:AudienceRestriction/saml:Audience") == ["https://wrong.example/sp"]),
        ("destination=wrong", lambda x, r: tree(x).get("Destination") == "https://wrong.example/acs"),
        ("recipient=wrong", lambda x, r: 'Recipient="https://wrong.example/acs"' in x),
        ("issuer=wrong", lambda x, r: texts(x, "saml:Issuer") + texts(x, "saml:Assertion/saml:Issuer") == ["https://evil.example/idp"] * 2),
        ("unsolicited", lambda x, r: "InResponseTo" not in x),
        ("in_response_to=_other-request", lambda x, r: x.count('InResponseTo="_other-request"') == 2 and r not in x),
        ("attr_email=eve@corp.test", lambda x, r: texts(x, "saml:Assertion/saml:AttributeStatement/saml:Attribute/saml:AttributeValue") == ["eve@corp.test"]
            and texts(x, "saml:Assertion/saml:Subject/saml:NameID") == [USER]),
    ):
        rid, xml, _ = run(variant)
        check(idp, variant, "as described; assertion signature OK", test(xml, rid) and xmlsec(xml, cert, ASSERTION_SIG) == "OK")
    rid, xml, _ = run("status=responder")
    code = tree(xml).find(f"{{{P}}}Status/{{{P}}}StatusCode").get("Value")
    check(idp, "status=responder", "Status Responder, no assertion",
          code == "urn:oasis:names:tc:SAML:2.0:status:Responder" and "Assertion" not in xml)
    rid, xml, _ = run("status=responder,sign=response")
    check(idp, "status=responder,sign=response", "response signature OK", xmlsec(xml, cert, RESPONSE_SIG) == "OK")
    rid, xml, _ = run("expired,audience=wrong,sign=both")
    check(idp, "expired,audience=wrong,sign=both", "combined; both signatures OK",
          "https://wrong.example/sp" in xml and xmlsec(xml, cert, ASSERTION_SIG) == "OK" and xmlsec(xml, cert, RESPONSE_SIG) == "OK")

    # comment truncation: USER = bob+sso@corp.test; comment=7 -> bob+sso<!---->@corp.test
    rid, xml, _ = run("comment=7")
    check(idp, "comment=7", "<!----> inside NameID and email value", xml.count("bob+sso<!---->@corp.test") == 2)
    check(idp, "comment=7", "xmlsec1 (first Signature) OK", xmlsec(xml, cert) == "OK")
    # The truncation attack proper: user "admin@corp.test.evil.test", cut after "admin@corp.test".
    rid, xml, _ = run("comment=15", email="admin@corp.test.evil.test")
    check(idp, "comment=15 (email admin@corp.test.evil.test)", "text before comment = admin@corp.test; xmlsec1 OK",
          "admin@corp.test<!---->.evil.test" in xml and xmlsec(xml, cert) == "OK")

    for how in ("before", "after", "extensions", "object", "same_id"):
        variant = f"wrap={how}"
        rid, xml, _ = run(variant, forged=FORGED)
        has_forged = FORGED in texts(xml, ".//saml:Assertion/saml:Subject/saml:NameID")
        n = len(re.findall(r"<saml:Assertion\b", xml))
        if how in ("before", "after", "extensions"):
            v = xmlsec(xml, cert)
            check(idp, variant, "xmlsec1 (first Signature) OK; forged assertion present", v == "OK" and has_forged and n == 2, v)
        elif how == "object":
            v1, v2 = xmlsec(xml, cert), xmlsec(xml, cert, OBJECT_SIG)
            check(idp, variant, "signed assertion's own Signature (in ds:Object) OK; forged present",
                  v2 == "OK" and has_forged and n == 2, f"inner {v2}")
            check(idp, variant, "(copied outer Signature fails: enveloped transform removes ds:Object)", v1 == "FAIL", v1)
        else:
            ids = re.findall(r'<saml:Assertion\b[^>]*\bID="([^"]*)"', xml)
            v1 = xmlsec(xml, cert)
            first = re.search(r"<saml:Assertion\b.*?</saml:Assertion>", xml, re.S).group(0)
            v2 = xmlsec(xml.replace(first, "", 1), cert)
            check(idp, variant, "two assertions, one ID; forged present", len(ids) == 2 and ids[0] == ids[1] and has_forged)
            check(idp, variant, "xmlsec1 refuses the duplicate ID; signed copy alone OK",
                  "duplicate ID" in v1 and v2 == "OK", f"{v1[:40]} / {v2}")
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)

w = [max(len(str(r[i])) for r in rows) for i in range(4)]
print(f"{'IdP':<{w[0]}}  {'variant':<{w[1]}}  {'check':<{w[2]}}  result")
print(f"{'-' * w[0]}  {'-' * w[1]}  {'-' * w[2]}  ------")
for r in rows:
    line = f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}"
    if r[3] == "FAIL" and r[4]:
        line += f"  ({r[4]})"
    print(line)
failed = sum(r[3] == "FAIL" for r in rows)
print(f"{len(rows) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
