#!/usr/bin/env bash
# Builds the native wheels the appliance compiles at install (llama-cpp-python) for a stated
# CPU baseline, never for the build machine's CPU: the clinic's box is another machine.
#
#   bash provisioning/native-build.sh WHEEL_DIR [PYTHON]
#
# CPU_BASELINE selects the target (default x86-64-v3):
#   x86-64-v3  AVX, AVX2, FMA, F16C, BMI2 (Intel Haswell 2013+, AMD Excavator/Zen+). No AVX-512, no AMX.
#   x86-64-v2  SSE4.2 and POPCNT only (any x86-64 box from 2009 on; about 2-3x slower LLM decode).
# The wheel lands in WHEEL_DIR/<baseline>-<hash of the flags>/, so a wheel built with other
# flags (or by a plain `pip install`, which would use -march=native) is never reused silently:
# pip's own cache is bypassed (--no-cache-dir) and the install takes the wheel from that folder only.
set -euo pipefail
out=${1:?usage: native-build.sh WHEEL_DIR [PYTHON]}
python=${2:-python3}
baseline=${CPU_BASELINE:-x86-64-v3}
version=0.3.36
common="-DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_AVX_VNNI=OFF"
case "$baseline" in
  x86-64-v3) flags="$common -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" ;;
  x86-64-v2) flags="$common -DGGML_SSE42=ON -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF" ;;
  *) echo "native-build.sh: unknown CPU_BASELINE '$baseline' (use x86-64-v3 or x86-64-v2)" >&2; exit 2 ;;
esac
tag=$(printf '%s %s' "$version" "$flags" | sha256sum | cut -c1-12)
dir="$out/$baseline-$tag"
if ! ls "$dir"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $version for CPU baseline $baseline (about 10 minutes on 2 cores)"
  mkdir -p "$dir.tmp"
  CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$python" -m pip wheel --quiet --no-cache-dir \
    --no-binary llama-cpp-python --no-deps --wheel-dir "$dir.tmp" "llama-cpp-python==$version"
  printf 'baseline=%s\ncmake_args=%s\n' "$baseline" "$flags" > "$dir.tmp/BUILD-FLAGS"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
fi
echo "$dir"
