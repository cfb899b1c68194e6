#!/usr/bin/env bash
# Installs the Debian packages a purpose needs (`test` or `run`), only those missing.
# Runs apt-get as root (or through sudo). Lists live in provisioning/apt-<purpose>.txt.
set -euo pipefail
purpose=${1:-test}
here=$(cd "$(dirname "$0")" && pwd)
list="$here/apt-$purpose.txt"
[ -f "$list" ] || { echo "no package list $list" >&2; exit 2; }
missing=()
while read -r pkg _; do
  case "$pkg" in ''|'#'*) continue ;; esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < "$list"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
