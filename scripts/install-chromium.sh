#!/usr/bin/env bash
# Install Debian's chromium for the headless browser test (tests/test_report_browser.py).
# Idempotent: does nothing when `chromium` is already on PATH.
# The Python side (Playwright, driving the system chromium) comes with the dev extras:
#   .venv/bin/pip install -e ".[dev]"      (never `playwright install`: the system browser is used)
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi

install_cmd='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'

if [ "$(id -u)" -eq 0 ]; then
    sh -c "$install_cmd"
elif command -v sudo >/dev/null 2>&1; then
    sudo sh -c "$install_cmd"
else
    echo "chromium is missing and this user is not root (and sudo is not available)." >&2
    echo "Install it as root with:" >&2
    echo "    $install_cmd" >&2
    exit 1
fi

command -v chromium >/dev/null 2>&1 || { echo "chromium still not on PATH after install" >&2; exit 1; }
echo "chromium installed: $(command -v chromium)"
