"""Schemathesis hooks for tests/schemathesis/run.sh. The ids and credentials come from
bootstrap.py's seed.json ($BULWARK_FUZZ_SEED); the pass is $BULWARK_FUZZ_PASS.

- `session` (the routes that end the caller's session, POST /v1/auth/logout): every test case
  signs in afresh, so that one case ending its session does not turn the next ones into 401s;
  the check `logout_ends_session` makes sure a signed-out access token is refused at once.
- `main`: the fuzzer's wrong passwords (POST /v1/me/password, /v1/me/mfa/totp, ...) lock the
  admin's account after five; on a 423 the admin's lockout is cleared again (POST
  /v1/admin/users/{id}/unlock), so that later cases reach the handlers' other answers. In the
  fuzzing and stateful phases a valid `Idempotency-Key` is made unique: the generator repeats
  short keys, and a replayed 201 (API.md: the first answer again, even when that resource has
  since been deleted) or a 409 for a reused key would stand in for the route's own answers
  (the coverage phase keeps its keys, so replays and conflicts are still met).
- other passes (the access gates): nothing.

In every pass: `ast.parse` is serialised (see below).
"""

import ast
import itertools
import json
import os
import re
import threading
import urllib.error
import urllib.request

import schemathesis

# CPython 3.11's `ast` is not thread-safe: two threads parsing at once (hypothesis reads the
# source of its filters and constants with `ast.parse`) fail with "AST constructor recursion
# depth mismatch". Parsing is serialised.
_parse = ast.parse
_parse_lock = threading.RLock()


def _serialised_parse(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _serialised_parse

SEED = json.loads(open(os.environ["BULWARK_FUZZ_SEED"]).read())
PASS = os.environ.get("BULWARK_FUZZ_PASS", "main")


def _call(method, path, body=None, token=None):
    headers = {}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(SEED["base_url"] + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


if PASS == "session":

    @schemathesis.auth(refresh_interval=None, retry_on=[])
    class FreshSession:
        def get(self, case, context):
            creds = {"tenant": SEED["tenant"], "email": SEED["session_email"], "password": SEED["session_password"]}
            return _call("POST", "/v1/auth/login", creds)["access_token"]

        def set(self, case, data, context):
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"

    @schemathesis.check
    def logout_ends_session(ctx, response, case):
        """API.md: after POST /v1/auth/logout → 204 the session's access token gets 401."""
        if case.path != "/v1/auth/logout" or response.status_code != 204:
            return None
        token = (case.headers or {}).get("Authorization", "")
        req = urllib.request.Request(SEED["base_url"] + "/v1/me", headers={"Authorization": token})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        if status != 401:
            raise AssertionError(f"GET /v1/me with the signed-out access token answered {status}, not 401")
        return None

elif PASS == "main":
    _serial = itertools.count()
    _valid_key = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

    @schemathesis.hook
    def before_call(context, case, kwargs):
        meta = getattr(case, "meta", None)
        if meta is None or meta.phase.name not in ("fuzzing", "stateful") or not case.headers:
            return
        for name, value in list(case.headers.items()):
            if name.lower() == "idempotency-key" and isinstance(value, str) and _valid_key.match(value):
                suffix = f"-{next(_serial)}"
                case.headers[name] = value[: 64 - len(suffix)] + suffix

    @schemathesis.hook
    def after_call(context, case, response):
        if response.status_code == 423 and case.path.startswith("/v1/me"):
            _call("POST", f"/v1/admin/users/{SEED['admin_id']}/unlock", token=SEED["admin_access_token"])
