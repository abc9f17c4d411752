#!/usr/bin/env bash
# Installs everything annals needs to build, run and test on Debian 12.
# Idempotent: packages already present are skipped. Works as root (CI) or through sudo,
# and never prompts (no stdin needed).
set -euo pipefail

# --- npm: the WorkOS SDK compatibility test (tests/workos-sdk) ---
# Installs exactly what tests/workos-sdk/package-lock.json pins (the official WorkOS Node SDK),
# with `npm ci`, only when node_modules is missing or was installed from another lock file.
# Offline, or without node/npm, this only warns: the build goes on, and the workos_sdk test
# reports the missing SDK.
install_npm_lockfile() {
  local dir="$1"
  local stamp="$dir/node_modules/.annals-package-lock.sha256"
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: npm is not installed; skipping $dir (its tests will fail)" >&2
    return 0
  fi
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "install-deps: npm ci in $dir" >&2
  if (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error </dev/null >&2); then
    echo "$want" >"$stamp"
  else
    echo "install-deps: npm ci in $dir failed (offline?); its tests will fail until it succeeds" >&2
  fi
  return 0
}
install_npm_lockfile "$(cd "$(dirname "$0")/.." && pwd)/tests/workos-sdk"
install_npm_lockfile "$(cd "$(dirname "$0")/.." && pwd)/tests/s3"

PACKAGES=(
  g++ cmake ninja-build pkg-config ccache
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libcurl4-openssl-dev libsimdjson-dev librocksdb-dev libsqlite3-dev sqlite3
  libpq-dev libsodium-dev zlib1g-dev libzstd-dev libsnappy-dev liblz4-dev libbz2-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  clang libclang-rt-14-dev postgresql-15 postgresql-contrib curl openssl procps
  rsyslog rsyslog-openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "install-deps: missing packages (${missing[*]}) and not root; install them or run with sudo." >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
