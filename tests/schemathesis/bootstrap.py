#!/usr/bin/env python3
"""Seed a fresh local Bulwark server for schemathesis (tests/schemathesis/run.sh).

Creates the tenant `fuzz` with the operator token; its admin accepts the emailed invitation,
signs in and enrols in MFA; invites a member and a third user (the session-ending pass's);
creates a conversation of admin and member with messages (one carrying an attachment) and a
push device. Two more tenants hold the gated sessions: `gate-mfa` (MFA required, the admin not
enrolled) and `gate-pw` (an admin whose password change another admin forced). Standard
library only.

    bootstrap.py BASE_URL DATA_DIR OUT_DIR

Writes to OUT_DIR the schemathesis configs, each with the real ids for the path parameters:
main.toml (the admin's and the operator's tokens), session.toml (no token: hooks.py signs in
afresh for each case), gate-mfa.toml and gate-pw.toml (the gated sessions); and seed.json
(ids and credentials, for hooks.py).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE, DATA_DIR, OUT = sys.argv[1].rstrip("/"), Path(sys.argv[2]), Path(sys.argv[3])
OPERATOR = os.environ["BULWARK_OPERATOR_TOKEN"]
SLUG = "fuzz"
ADMIN_EMAIL, MEMBER_EMAIL, SESSION_EMAIL = "admin@fuzz.test", "member@fuzz.test", "session@fuzz.test"
PASSWORD = "Fuzz-Admin-Passw0rd"
MEMBER_PASSWORD = "Fuzz-Member-Passw0rd"
SESSION_PASSWORD = "Fuzz-Session-Passw0rd"


def call(method, path, body=None, token=None, raw=None, headers=None, want=None):
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    elif raw is not None:
        data = raw
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if want is not None and status != want:
        sys.exit(f"bootstrap: {method} {path}: expected {want}, got {status} {text}")
    return json.loads(text) if text else None


def invitation_token(email):
    """The token of the newest invitation mailed to `email` (the outbox's .eml files)."""
    for _ in range(100):
        best = None
        for f in (DATA_DIR / "outbox").glob("*.eml"):
            text = f.read_text(errors="replace")
            if re.search(rf"^To: .*{re.escape(email)}", text, re.M | re.I):
                m = re.search(r"[?&]token=([A-Za-z0-9._~%-]+)", text)
                if m and (best is None or f.stat().st_mtime >= best[0]):
                    best = (f.stat().st_mtime, m.group(1))
        if best:
            return best[1]
        time.sleep(0.1)
    sys.exit(f"bootstrap: no invitation mailed to {email} in {DATA_DIR}/outbox")


def login(email, password, tenant=SLUG):
    out = call("POST", "/v1/auth/login", {"tenant": tenant, "email": email, "password": password}, want=200)
    return out["access_token"]


def totp(secret, at=None):
    """RFC 6238: SHA-1, 6 digits, 30 s."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int((at or time.time()) // 30)), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def new_tenant(slug, admin_email, password):
    """A tenant and its first admin's session (the emailed invitation accepted)."""
    t = call("POST", "/v1/platform/tenants", {"slug": slug, "name": slug.title(), "admin_email": admin_email},
             token=OPERATOR, want=201)
    call("POST", "/v1/invitations/accept",
         {"token": invitation_token(admin_email), "password": password, "display_name": "Admin"}, want=201)
    return t, login(admin_email, password, tenant=slug)


tenant, admin = new_tenant(SLUG, ADMIN_EMAIL, PASSWORD)
admin_id = call("GET", "/v1/me", token=admin, want=200)["user_id"]
# The admin enrols in MFA, so that the fuzzer turning the tenant's `mfa_required` on does not
# gate the admin's own session (that gate has its own pass, below).
secret = call("POST", "/v1/me/mfa/totp", {"password": PASSWORD}, token=admin, want=200)["secret"]
call("POST", "/v1/me/mfa/totp/confirm", {"code": totp(secret)}, token=admin, want=200)
call("POST", "/v1/admin/invitations", {"email": MEMBER_EMAIL, "role": "member"}, token=admin, want=201)
member_id = call("POST", "/v1/invitations/accept",
                 {"token": invitation_token(MEMBER_EMAIL), "password": MEMBER_PASSWORD, "display_name": "Fuzz Member"},
                 want=201)["user_id"]
member = login(MEMBER_EMAIL, MEMBER_PASSWORD)
# The session-ending pass signs this user in afresh for every case: one the main pass never
# touches (its admin routes act on the member; its wrong passwords lock only the admin).
call("POST", "/v1/admin/invitations", {"email": SESSION_EMAIL, "role": "member"}, token=admin, want=201)
session_user = call("POST", "/v1/invitations/accept",
                    {"token": invitation_token(SESSION_EMAIL), "password": SESSION_PASSWORD,
                     "display_name": "Fuzz Session"}, want=201)["user_id"]
conversation = call("POST", "/v1/conversations", {"title": "fuzz", "member_ids": [member_id]}, token=admin,
                    want=201)["conversation_id"]
attachment = call("POST", "/v1/attachments", raw=b"hello, fuzz\n", token=admin,
                  headers={"Content-Type": "text/plain", "X-Filename": "hello.txt"}, want=201)["attachment_id"]
# Messages: one carrying the attachment (so the member may read it too), one from each member.
call("POST", f"/v1/conversations/{conversation}/messages", {"body": "with a file", "attachment_ids": [attachment]},
     token=admin, want=201)
message = call("POST", f"/v1/conversations/{conversation}/messages", {"body": "hello"}, token=admin,
               want=201)["message_id"]
call("POST", f"/v1/conversations/{conversation}/messages", {"body": "hi back"}, token=member, want=201)
device = call("POST", "/v1/me/devices", {"platform": "fcm", "token": "fuzz-device-token"}, token=admin,
              want=201)["device_id"]
# A tenant of its own for the operator's disable/enable routes: disabling the main tenant would
# end every session the main pass runs with.
spare = call("POST", "/v1/platform/tenants", {"slug": "fuzz-spare", "name": "Fuzz Spare",
                                               "admin_email": "admin@fuzz-spare.test"}, token=OPERATOR, want=201)
# The event app: a published event with a live session, the tenant's Agora credentials and the
# member registered, so the event routes reach their handlers rather than 404s.
event = call("POST", "/v1/events", {"title": "Fuzz congress", "starts_at": "2027-03-01T08:00:00Z",
                                     "ends_at": "2027-03-02T17:00:00Z", "timezone": "Europe/Berlin",
                                     "capacity": 50}, token=admin, want=201)["event_id"]
call("POST", f"/v1/events/{event}/publish", token=admin, want=200)
session = call("POST", f"/v1/events/{event}/sessions", {"title": "Keynote", "starts_at": "2027-03-01T09:00:00Z",
                                                        "ends_at": "2027-03-01T10:00:00Z", "live": True},
               token=admin, want=201)["session_id"]
call("PUT", "/v1/admin/integrations/agora", {"app_id": "970ca35de60c44645bbae8a215061b33",
                                             "app_certificate": "5cfd2fd1755d40ecb72977518be15d3b"},
     token=admin, want=204)
call("POST", f"/v1/events/{event}/registration", token=member, want=201)

# The access gates (API.md): sessions that every gated route must refuse with 403, each in a
# tenant of its own that the main pass never touches.
#  - mfa_enrollment_required: an admin who has not enrolled, in a tenant that requires MFA;
_, gated_mfa = new_tenant("gate-mfa", "admin@gate-mfa.test", PASSWORD)
call("PUT", "/v1/admin/policy", {"app_passcode": {"required": False, "timeout_minutes": 5}, "mfa_required": True},
     token=gated_mfa, want=200)
#  - password_change_required: an admin whom another admin has told to change the password.
_, first = new_tenant("gate-pw", "first@gate-pw.test", PASSWORD)
call("POST", "/v1/admin/invitations", {"email": "admin@gate-pw.test", "role": "admin"}, token=first, want=201)
gated_pw_id = call("POST", "/v1/invitations/accept",
                   {"token": invitation_token("admin@gate-pw.test"), "password": PASSWORD, "display_name": "Admin"},
                   want=201)["user_id"]
gated_pw = login("admin@gate-pw.test", PASSWORD, tenant="gate-pw")
call("POST", f"/v1/admin/users/{gated_pw_id}/require-password-change", token=first, want=204)

seed = {
    "base_url": BASE, "tenant": SLUG, "tenant_id": tenant["tenant_id"],
    "admin_email": ADMIN_EMAIL, "admin_password": PASSWORD, "admin_id": admin_id,
    "admin_access_token": admin, "admin_totp_secret": secret,
    "member_email": MEMBER_EMAIL, "member_password": MEMBER_PASSWORD, "member_id": member_id,
    "session_email": SESSION_EMAIL, "session_password": SESSION_PASSWORD, "session_user_id": session_user,
    "conversation_id": conversation, "message_id": message, "attachment_id": attachment, "device_id": device,
    "event_id": event, "session_id": session,
}
(OUT / "seed.json").write_text(json.dumps(seed, indent=2))


def q(s):
    return json.dumps(s)


# Path parameters (fixed: the fuzzer's own would only meet 404s), per operation where one name
# means different things.
per_operation = {
    "platform-tenant-keys-rotate": {"path.tenant_id": tenant["tenant_id"]},
    "platform-tenant-keys-get": {"path.tenant_id": tenant["tenant_id"]},
    "messages-send": {"path.id": conversation},
    "messages-list": {"path.id": conversation},
    "conversations-read": {"path.id": conversation},
    # The message and device ids of the one-shot deletes are left to the fuzzer and, in the
    # stateful phase, to the links from the routes that create them (a fixed id would be gone
    # after its first deletion, and would override the link's fresh one).
    "messages-delete": {"path.id": conversation},
    "attachments-get": {"path.id": attachment},
}
for op in ["platform-tenants-disable", "platform-tenants-enable"]:
    per_operation[op] = {"path.tenant_id": spare["tenant_id"]}
for op in ["events-get", "events-patch", "events-publish", "events-cancel", "events-sessions-create",
           "events-sessions-list", "events-registration-create", "events-registration-delete",
           "events-registrations-list", "events-announcements-create", "events-announcements-list"]:
    per_operation[op] = {"path.id": event}
for op in ["events-sessions-patch", "events-sessions-delete", "events-sessions-rtc-token"]:
    per_operation[op] = {"path.id": event, "path.sid": session}


def operations_toml():
    out = []
    for op, params in per_operation.items():
        inner = ", ".join(f"{q(k)} = {q(v)}" for k, v in params.items())
        out.append(f"[[operations]]\ninclude-operation-id = {q(op)}\nparameters = {{ {inner} }}\n")
    return "\n".join(out)


def config(access_token=None, operations=""):
    """A schemathesis config. Without `access_token` (the session-ending pass) there is no
    [auth.openapi] at all: it would take precedence over hooks.py's fresh sessions."""
    auth = ""
    if access_token:
        auth = f"""
[auth.openapi.operatorToken]
bearer = {q(OPERATOR)}

[auth.openapi.accessToken]
bearer = {q(access_token)}
"""
    return f"""base-url = {q(BASE)}
hooks = {q(str(Path(__file__).with_name("hooks.py")))}

# Nothing kept between runs (nor written into the work tree): each run starts from its seed.
[cache]
enabled = false

[generation]
database = "none"
{auth}
[parameters]
# The admin routes act on the member (never on the admin, whose session runs the tests).
"path.user_id" = {q(member_id)}

{operations}"""


(OUT / "main.toml").write_text(config(admin, operations_toml()))
# The session-ending pass: hooks.py signs a user in afresh for each case.
(OUT / "session.toml").write_text(config())
# The gate passes: the gated sessions (their routes answer 403 before reading ids or bodies).
(OUT / "gate-mfa.toml").write_text(config(gated_mfa))
(OUT / "gate-pw.toml").write_text(config(gated_pw))
print(f"bootstrap: tenant {tenant['tenant_id']}, admin {admin_id}, member {member_id}, "
      f"conversation {conversation}, attachment {attachment}, message {message}, device {device}")
