#!/usr/bin/env bash
# Installs Debian's python3-torch (1.13), which the fixture generators in tools/ need. CI and the tests do not:
# the fixtures are committed. Runs as root, as on the project's machines.
set -euo pipefail
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then exit 0; fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch
