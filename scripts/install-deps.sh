#!/usr/bin/env bash
# Installs everything annals needs to build, run and test on Debian 12.
# Idempotent: packages already present are skipped. Works as root (CI) or through sudo,
# and never prompts (no stdin needed).
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config ccache
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libcurl4-openssl-dev libsimdjson-dev librocksdb-dev libsqlite3-dev sqlite3
  libpq-dev libsodium-dev zlib1g-dev libzstd-dev libsnappy-dev liblz4-dev libbz2-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  clang libclang-rt-14-dev postgresql-15 postgresql-contrib curl openssl procps
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
