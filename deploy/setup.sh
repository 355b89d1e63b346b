#!/usr/bin/env bash
# Installs the Debian packages krbfleet needs (deploy/debian-packages.txt) when any is missing.
# As root it runs apt-get; otherwise it prints the exact line to run and fails. Safe to run again:
# with everything present it only checks (about 50 ms). Needs no node_modules, so it runs before `npm ci`.
set -euo pipefail
list="$(dirname "$0")/debian-packages.txt"
mapfile -t packages < <(grep -v '^\s*#' "$list" | grep -v '^\s*$')
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if (( ${#missing[@]} == 0 )); then
  echo "setup: all ${#packages[@]} Debian packages present"
  exit 0
fi
line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: run as root:  $line" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
