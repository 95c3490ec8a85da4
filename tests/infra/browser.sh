#!/usr/bin/env bash
# Install what the dashboard's browser tests drive: Debian's headless-capable Chromium and its
# matching chromedriver (tests/local/test_dashboard_browser.py). Idempotent: when both are
# present it only prints their versions. Needs root (apt-get) the first time.
#
# Usage: sudo tests/infra/browser.sh
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if ((${#missing[@]})); then
    echo "[browser] installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

chromium --version 2>/dev/null  # its launcher script may warn about /dev/shm
chromedriver --version
