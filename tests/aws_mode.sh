#!/usr/bin/env bash
# The README's first session in AWS mode, as a developer runs it: `scripts/serve --aws` (the
# local server against moto, provisioned as template.yaml would), then curl and `scripts/mail`:
# create a tenant → accept the emailed invitation → log in → /v1/me → create a conversation →
# send a message → read it back. One line per step, then `walkthrough: N passed, M failed`;
# exits non-zero if any step failed. Needs only what scripts/serve --aws needs (it runs
# scripts/setup); takes seconds once bulwark-server is built.
#
#   tests/aws_mode.sh
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup || exit 1
# Build first, so that the start-up wait below measures the server, not the compiler.
cargo build --quiet --bin bulwark-server || { echo "walkthrough: cannot build bulwark-server" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
api="http://127.0.0.1:$port"
work=$(mktemp -d -t bulwark-aws-mode.XXXXXX)
# A session of its own (session file, moto log), beside any scripts/serve --aws already running.
export BULWARK_AWS_DIR="$work/session" BULWARK_LISTEN="127.0.0.1:$port"
# The operator token is generated and read by the server from the operator-token secret.
unset BULWARK_OPERATOR_TOKEN

scripts/serve --aws >"$work/serve.log" 2>&1 &
serve_pid=$!
cleanup() {
  kill -TERM "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_logs() {
  echo "--- scripts/serve --aws output (last 40 lines)" >&2
  tail -n 40 "$work/serve.log" >&2
  echo "--- moto log (last 10 lines)" >&2
  tail -n 10 "$BULWARK_AWS_DIR/moto.log" >&2 2>/dev/null
}

for _ in $(seq 1 600); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    echo "walkthrough: scripts/serve --aws exited before serving" >&2
    show_logs
    echo "walkthrough: 0 passed, 7 failed"
    exit 1
  fi
  sleep 0.2
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "walkthrough: scripts/serve --aws did not answer on $api within 120 s" >&2
  show_logs
  echo "walkthrough: 0 passed, 7 failed"
  exit 1
fi
# shellcheck disable=SC1091
operator_token=$(. "$BULWARK_AWS_DIR/session.env" && printf %s "$OPERATOR_TOKEN")

passed=0 failed=0 step=0 broken=""
ok() { step=$((step + 1)); passed=$((passed + 1)); echo "ok   $step $1"; }
fail() { step=$((step + 1)); failed=$((failed + 1)); broken=1; echo "FAIL $step $1"; }
# After a failure the later steps cannot run: they count as failed.
skip() { step=$((step + 1)); failed=$((failed + 1)); echo "FAIL $step $1 (not run: an earlier step failed)"; }

# call METHOD PATH [JSON] [BEARER]: sets $status and $body.
call() {
  local args=(-s -o "$work/body" -w '%{http_code}' -X "$1" "$api$2")
  [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' -d "$3")
  [ -n "${4:-}" ] && args+=(-H "Authorization: Bearer $4")
  status=$(curl "${args[@]}") || status="curl-error"
  body=$(cat "$work/body" 2>/dev/null)
}
# field EXPR: a value of the last JSON body, e.g. field '["messages"][0]["body"]' (empty if absent).
field() {
  python3 -c 'import json, sys
try:
    v = eval("json.load(sys.stdin)" + sys.argv[1])
except Exception:
    v = ""
print(v if isinstance(v, str) else json.dumps(v))' "$1" <"$work/body" 2>/dev/null
}

slug=acme admin=admin@acme.test password=Correct-Horse-Battery-9 text="Hello from AWS mode: $(date +%s)"

# 1. The operator creates a tenant; SES (moto) gets the first admin's invitation.
call POST /v1/platform/tenants "{\"slug\":\"$slug\",\"name\":\"Acme Health\",\"admin_email\":\"$admin\"}" "$operator_token"
tenant_id=$(field '["tenant_id"]')
if [ "$status" = 201 ] && [ -n "$tenant_id" ]; then ok "create tenant: 201, tenant $tenant_id"
else fail "create tenant: expected 201 with a tenant_id, got $status $body"; fi

# 2. The admin reads the invitation (scripts/mail) and accepts it.
if [ -z "$broken" ]; then
  invite=""
  for _ in $(seq 1 50); do
    invite=$(scripts/mail --to "$admin" --last --tokens 2>/dev/null | head -n 1)
    [ -n "$invite" ] && break
    sleep 0.2
  done
  if [ -z "$invite" ]; then
    fail "accept invitation: no invitation to $admin in moto's SES messages (scripts/mail)"
  else
    call POST /v1/invitations/accept "{\"token\":\"$invite\",\"password\":\"$password\",\"display_name\":\"Ada\"}"
    user_id=$(field '["user_id"]')
    if [ "$status" = 201 ] && [ -n "$user_id" ]; then ok "accept invitation from the SES mail: 201, user $user_id"
    else fail "accept invitation: expected 201 with a user_id, got $status $body"; fi
  fi
else skip "accept invitation"; fi

# 3. Log in.
if [ -z "$broken" ]; then
  call POST /v1/auth/login "{\"tenant\":\"$slug\",\"email\":\"$admin\",\"password\":\"$password\"}"
  access=$(field '["access_token"]')
  if [ "$status" = 200 ] && [ -n "$access" ]; then ok "login: 200, access token issued"
  else fail "login: expected 200 with an access_token, got $status $body"; fi
else skip "login"; fi

# 4. Who am I.
if [ -z "$broken" ]; then
  call GET /v1/me "" "$access"
  me=$(field '["user_id"]') role=$(field '["role"]')
  if [ "$status" = 200 ] && [ "$me" = "$user_id" ]; then ok "GET /v1/me: 200, user $me ($role)"
  else fail "GET /v1/me: expected 200 for user $user_id, got $status $body"; fi
else skip "GET /v1/me"; fi

# 5. A conversation (the caller is always a member).
if [ -z "$broken" ]; then
  call POST /v1/conversations '{"title":"Walkthrough","member_ids":[]}' "$access"
  conv=$(field '["conversation_id"]')
  if [ "$status" = 201 ] && [ -n "$conv" ]; then ok "create conversation: 201, conversation $conv"
  else fail "create conversation: expected 201 with a conversation_id, got $status $body"; fi
else skip "create conversation"; fi

# 6. Send a message (encrypted at field level under the tenant's KMS-wrapped data key).
if [ -z "$broken" ]; then
  call POST "/v1/conversations/$conv/messages" "{\"body\":\"$text\"}" "$access"
  msg=$(field '["message_id"]')
  if [ "$status" = 201 ] && [ -n "$msg" ]; then ok "send message: 201, message $msg"
  else fail "send message: expected 201 with a message_id, got $status $body"; fi
else skip "send message"; fi

# 7. Read it back.
if [ -z "$broken" ]; then
  call GET "/v1/conversations/$conv/messages" "" "$access"
  got=$(field '["messages"][0]["body"]') got_id=$(field '["messages"][0]["message_id"]')
  if [ "$status" = 200 ] && [ "$got" = "$text" ] && [ "$got_id" = "$msg" ]; then ok "list messages: 200, the body reads back"
  else fail "list messages: expected 200 with message $msg reading \"$text\", got $status $body"; fi
else skip "list messages"; fi

[ "$failed" = 0 ] || show_logs
echo "walkthrough: $passed passed, $failed failed"
[ "$failed" = 0 ]
