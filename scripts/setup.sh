#!/usr/bin/env bash
# setup.sh - installs what sheetq needs to build, run its demo and its tests
# on Debian 12, and nothing more. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config
  # libraries (pkg-config: xlsxwriter libmariadb hiredis libuv libcjson libcurl)
  libxlsxwriter-dev libmariadb-dev libhiredis-dev libuv1-dev libcjson-dev
  libcurl4-openssl-dev zlib1g-dev
  # servers and clients for the demo and the tests
  mariadb-server mariadb-client redis-server redis-tools
  # independent readers for the tests
  python3 python3-openpyxl python3-pymysql
  # measuring
  time
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: missing packages: ${missing[*]}; run as root or install them" >&2
  exit 1
fi
echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
