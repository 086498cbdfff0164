#!/usr/bin/env bash
# Debian packages the bench needs beyond the tests': valgrind, whose callgrind counts the
# instructions of a start and a completion (bench/instructions.py).
set -euo pipefail
if ! command -v valgrind >/dev/null 2>&1; then
  echo "installing valgrind"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >/dev/null
fi
