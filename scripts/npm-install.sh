#!/usr/bin/env bash
# Front-end packages come from the npm registry through the committed package.json + lock.
set -euo pipefail
[ -f package.json ] || exit 0
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
