#!/usr/bin/env bash
# Schemathesis against openapi.yaml on the local server (embedded mode, a fresh data dir): zero
# 5xx, zero undocumented status codes or content types, zero responses off their schema.
#
# bootstrap.py seeds the server (a tenant, its admin enrolled in MFA, a member, a conversation
# with messages, an attachment, a push device) and writes the configs; then four passes:
#   session  the session-ending operations (POST /v1/auth/logout), each case signed in afresh,
#            with a check that the signed-out token is refused; first, because the main pass's
#            fuzzer learns the users' emails from responses and locks them out with bad passwords;
#   main     every operation but those that end the caller's own session, with real ids in
#            the path parameters (the admin routes act on the member), the admin's token and
#            the operator's: coverage, fuzzing and stateful phases in a fixed time budget;
#   gate-mfa every user route with a session that must enrol in MFA first (403
#            mfa_enrollment_required where API.md says so);
#   gate-pw  the same with a session whose password change an admin forced (403
#            password_change_required).
# Ends with `schemathesis: N passed, M failed` (operations per pass); exits non-zero on any
# failure, leaving the reports and the server log in target/schemathesis/.
#
#   tests/schemathesis/run.sh                 the whole run (about four minutes)
#   FUZZ_TIME=60 tests/schemathesis/run.sh    a shorter main pass (seconds; default 150)
set -euo pipefail
cd "$(dirname "$0")/../.."

scripts/setup
st=.venv/bin/schemathesis
py=.venv/bin/python
cargo build --quiet --bin bulwark-server

out=target/schemathesis
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d -t bulwark-schemathesis.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
api="http://127.0.0.1:$port"

export BULWARK_DATA_DIR="$work/data" BULWARK_LISTEN="127.0.0.1:$port"
BULWARK_OPERATOR_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export BULWARK_OPERATOR_TOKEN
export BULWARK_KEYRING_PASSPHRASE="schemathesis-local-keyring"
# The per-IP budget of the anonymous routes would otherwise turn most of the fuzzing into 429s
# (429 stays documented, and the per-account mail budget still answers it).
export BULWARK_ANON_RATE_PER_IP=100000
export BULWARK_LOG="${BULWARK_LOG:-warn}"

target/debug/bulwark-server >"$out/server.log" 2>&1 &
server_pid=$!
cleanup() {
  kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "schemathesis: bulwark-server exited before serving:" >&2
    cat "$out/server.log" >&2
    echo "schemathesis: 0 passed, 1 failed"
    exit 1
  fi
  sleep 0.1
done

"$py" tests/schemathesis/bootstrap.py "$api" "$BULWARK_DATA_DIR" "$work"
export BULWARK_FUZZ_SEED="$work/seed.json"
# Hypothesis' own files go with the run, not into the work tree.
export HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis"

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
checks+=,response_headers_conformance,negative_data_rejection,missing_required_header,unsupported_method
checks+=,allow_header_conformance,ignored_auth,use_after_free,ensure_resource_availability

# pass NAME CONFIG CHECKS ARGS...: one schemathesis run; its events go to $out/NAME.ndjson.
status=0
pass() {
  local name=$1 config=$2 checks=$3
  shift 3
  echo "== schemathesis: $name pass"
  BULWARK_FUZZ_PASS=$name "$st" --config-file "$config" run openapi.yaml \
    --checks "$checks" --workers 2 --seed 20251124 --no-color --output-sanitize false \
    --request-timeout 30 --report ndjson --report-ndjson-path "$out/$name.ndjson" "$@" \
    >"$out/$name.log" 2>&1 || status=1
  # Failures, warnings and the summary (the whole log stays in target/schemathesis/).
  awk '/^=+ (FAILURES|ERRORS|WARNINGS|SUMMARY) =+$/ { p = 1 } p' "$out/$name.log" | head -n 400
}

pass session "$work/session.toml" "$checks,logout_ends_session" --include-operation-id auth-logout \
  --phases coverage,fuzzing --max-examples 20
pass main "$work/main.toml" "$checks" --exclude-operation-id auth-logout \
  --phases coverage,fuzzing,stateful --max-examples 25 --max-time "${FUZZ_TIME:-150}"
gated='^/v1/(auth|invitations|platform)/'
pass gate-mfa "$work/gate-mfa.toml" "$checks" --exclude-path-regex "$gated" --phases coverage,fuzzing --max-examples 5
pass gate-pw "$work/gate-pw.toml" "$checks" --exclude-path-regex "$gated" --phases coverage,fuzzing --max-examples 5

if grep -q '"level":"ERROR"' "$out/server.log"; then
  echo "== bulwark-server logged errors (target/schemathesis/server.log):"
  grep '"level":"ERROR"' "$out/server.log" | head -n 20
fi
"$py" tests/schemathesis/summary.py "$out"/session.ndjson "$out"/main.ndjson "$out"/gate-mfa.ndjson \
  "$out"/gate-pw.ndjson || status=1
exit "$status"
