#!/usr/bin/env bash
# The "VS Code executable" handed to @vscode/test-electron's runTests(): runs
# driver.ts (code-server + headless Chromium) with test-electron's arguments.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
exec node --import tsx test/vscode/driver.ts "$@"
