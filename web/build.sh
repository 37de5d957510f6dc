#!/usr/bin/env bash
# Build the web app into web/dist: npm ci from the committed package-lock.json (only when the
# lockfile changed since the last install), then type-check and vite build.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "web: Node.js 20.19+ with npm is required to build the web app" >&2
  exit 1
fi
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
npm run --silent build -- --logLevel warn
