#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser/), unless it is already there. Playwright's own
# browser download cannot work here (closed network), so the tests drive Debian's build through playwright-core.
# CI runs as root and can apt-get; elsewhere this says what to do and fails, so the browser tests never pass silently.
set -euo pipefail

CHROMIUM="${QKV_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] && ! command -v sudo >/dev/null 2>&1; then
  echo "install-chromium: $CHROMIUM is missing and this user cannot apt-get; run 'apt-get install chromium' as root" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" != "0" ] && SUDO="sudo"
echo "install-chromium: installing Debian's chromium with apt-get" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
if [ ! -x "$CHROMIUM" ]; then
  echo "install-chromium: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
