#!/usr/bin/env bash
# The console in a real browser (tests/browser/README.md). Installs what the
# test needs when it is missing — Debian's Chromium, Node.js and npm, the
# npm packages pinned in package-lock.json — builds the release binary
# (a no-op when it is up to date), and runs the test. Run as root on a
# fresh machine (CI), or as anyone once those are installed.
#
#   SCREENSHOTS=1 bash tests/browser/run.sh   # also refreshes docs/screenshots/
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "browser: installing Debian's chromium" >&2
  apt_install chromium
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "browser: installing Node.js and npm" >&2
  apt_install nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "browser: error: playwright-core needs Node.js 20 or later, this is $(node --version)" >&2
  exit 1
fi

# The page screenshots show Chinese: without a CJK font they show boxes.
if [ "${SCREENSHOTS:-}" = "1" ] && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
  echo "browser: installing a Chinese font for the screenshots" >&2
  apt_install fonts-wqy-microhei
fi

# npm ci when node_modules was not installed from this very lock file.
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
stamp="$here/node_modules/.installed-from-lock"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "browser: npm ci" >&2
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2
  echo "$lock_sum" >"$stamp"
fi

if [ -z "${DOORSTEP_BIN:-}" ]; then
  cargo build --release -p doorstep --locked
  export DOORSTEP_BIN="${CARGO_TARGET_DIR:-$root/target}/release/doorstep"
fi

node "$here/console.test.mjs"
