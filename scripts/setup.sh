#!/usr/bin/env bash
# setup.sh - installs what sheetq needs to build, run its demo and its tests
# on Debian 12, and nothing more. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config
  # libraries (pkg-config: xlsxwriter libmariadb hiredis libuv libmicrohttpd
  # libcjson libcurl libcrypto)
  libxlsxwriter-dev libmariadb-dev libhiredis-dev libuv1-dev libmicrohttpd-dev
  libcjson-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
  # servers and clients for the demo and the tests
  mariadb-server mariadb-client redis-server redis-tools
  # independent readers for the tests (awscli: S3 objects, /usr/bin/aws)
  python3 python3-openpyxl python3-pymysql awscli
  # scraping the worker's metrics endpoint
  curl
  # the Python peers of bench/tiny_jobs.sh (RQ) and bench/month_start.sh
  python3-rq python3-xlsxwriter
  # measuring
  time
  # checking deploy/ (systemd-analyze verify and calendar, the Kubernetes YAML)
  systemd python3-yaml
  # the tz database (--period last-month in a time zone); openssl makes the
  # test certificates of the TLS test
  tzdata openssl
  # workers on simulated hosts in test_cluster_cap.sh: network namespaces
  # (ip, ss) joined to the test servers by socat relays
  iproute2 socat
)

# The S3 test server (tests/s3) runs on Node.js with npm. A Node.js already
# installed (this machine kind ships Node 20, which s3rver 4 needs) is kept:
# Debian's npm package would pull in Debian's older nodejs over it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

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
