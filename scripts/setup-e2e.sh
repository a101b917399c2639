#!/bin/sh
# Installs what the real-VS-Code test tiers need (Chromium, ripgrep, code-server in .tools/); idempotent, runs as root in CI.
set -eu

CODE_SERVER_VERSION=4.100.3
# The @vscode/ripgrep versions that code-server 4.100.x and its built-in extensions pull in.
RIPGREP_PACKAGE_VERSIONS="1.15.11 1.15.14 1.16.0"
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

repo=$(cd "$(dirname "$0")/.." && pwd)
tools="$repo/.tools/code-server"
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

# 2. @vscode/ripgrep's postinstall downloads rg from GitHub unless it finds the asset in its cache under os.tmpdir().
tmp=$(node -p "require('os').tmpdir()")
for version in $RIPGREP_PACKAGE_VERSIONS; do
  cache="$tmp/vscode-ripgrep-cache-$version"
  if [ -s "$cache/$RIPGREP_ASSET" ]; then
    say "ripgrep cache present: $cache/$RIPGREP_ASSET"
  else
    mkdir -p "$cache"
    staging=$(mktemp -d)
    cp /usr/bin/rg "$staging/rg"
    tar -czf "$cache/$RIPGREP_ASSET" -C "$staging" rg
    rm -rf "$staging"
    say "ripgrep cache made from /usr/bin/rg: $cache/$RIPGREP_ASSET"
  fi
done

# 3. code-server as a test tool with its own npm prefix, outside the extension's dependencies.
installed=$(node -p "try { require('$tools/node_modules/code-server/package.json').version } catch { '' }")
if [ "$installed" = "$CODE_SERVER_VERSION" ] && [ -x "$tools/node_modules/.bin/code-server" ]; then
  say "code-server $CODE_SERVER_VERSION already in $tools"
else
  say "npm install code-server@$CODE_SERVER_VERSION into $tools (a few minutes)"
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || printf '{ "private": true, "description": "Test tool for Lockstep e2e; not a dependency of the extension" }\n' >"$tools/package.json"
  (cd "$tools" && npm_config_yes=true npm_config_unsafe_perm=true npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION")
  # Read the version from the manifest: `code-server --version` writes a default ~/.config/code-server/config.yaml.
  say "code-server $(node -p "require('$tools/node_modules/code-server/package.json').version") installed"
fi

# 4. playwright-core is a devDependency; nothing here may download a browser, so only check it is there.
if [ -f "$repo/node_modules/playwright-core/package.json" ]; then
  say "playwright-core present (uses /usr/bin/chromium, never downloads a browser)"
else
  say "playwright-core missing: run 'npm ci' in $repo first" >&2
  exit 1
fi
say "done"
