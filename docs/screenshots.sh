#!/usr/bin/env bash
# Regenerates the README's screenshots (docs/screenshots/*.png) with headless
# Chromium against `tfa-gateway demo`: settings, QR setup, recovery codes,
# challenge and enroll page on a desktop, enroll and setup on a 360 px phone.
# Needs what the browser tests need: `apt-get install -y chromium
# chromium-driver` and `npm ci --prefix tests/browser` (axe-core).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d tests/browser/node_modules/axe-core ] || npm ci --prefix tests/browser
TFA_SCREENSHOTS="${1:-docs/screenshots}" \
  cargo test --test browser -- --ignored --exact readme_screenshots_are_regenerated --nocapture
