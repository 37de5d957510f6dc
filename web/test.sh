#!/usr/bin/env bash
# The web app's tests (scripts/test runs this): build it, Vitest unit tests, then the browser
# tests — Debian's Chromium (installed when missing) driven by playwright-core against a fresh
# bulwark-server on a free port with a temporary data dir, so it can run beside other tests.
# Screenshots of every screen land in web/screenshots/.
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
npx --no-install vitest run

if ! command -v chromium >/dev/null && [ -z "${CHROMIUM_PATH:-}" ]; then
  echo "web: installing chromium (Debian package)" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq chromium >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium; }
fi
if [ -z "${BULWARK_SERVER_BIN:-}" ]; then
  (cd .. && cargo build --quiet --bin bulwark-server)
  target_dir=$(cd .. && cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  export BULWARK_SERVER_BIN="$target_dir/debug/bulwark-server"
fi
node --test --test-reporter=spec e2e/
