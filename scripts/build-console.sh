#!/usr/bin/env bash
# Regenerates the web console's vendored libraries and the /docs renderer from npm.
#
# The versions are pinned in plugins/console/frontend/package-lock.json; `npm ci` installs
# exactly those, running no install script. frontend/vendor.mjs then copies each
# library's distributed files with its licence and writes a versions.json (file, package,
# version, SHA-256) that plugins/console/tests/test_assets.py checks against the lock
# file. The copies are committed, so installing the Python packages needs no node.
# To change a version: edit frontend/package.json, `npm install --ignore-scripts` there,
# then run this script.
set -euo pipefail

FRONTEND="$(cd "$(dirname "${BASH_SOURCE[0]}")/../plugins/console/frontend" && pwd)"
cd "$FRONTEND"
npm ci --ignore-scripts --no-audit --no-fund --silent
node vendor.mjs
