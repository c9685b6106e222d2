#!/usr/bin/env bash
# Builds llama-cpp-python once into a wheelhouse outside the clone and reuses it.
#
# llama-cpp-python publishes no wheel for Linux: pip compiles llama.cpp from source
# (minutes on a small machine), and its default build targets the build machine's CPU,
# which has crashed with an illegal instruction on other CPUs. This script builds it
# portable (AVX2/FMA/F16C, no -march=native) with the flags in LLAMA_CMAKE_ARGS, into
#   ${ALTLAS_WHEELHOUSE:-$HOME/.cache/altlas/wheelhouse}/<version>-<hash of the flags>/
# so that CI runs in fresh clones and reinstalls find the wheel instead of compiling.
# pip's own wheel cache ignores CMAKE_ARGS, hence a wheelhouse keyed by the flags.
#
# Usage:  scripts/wheelhouse.sh            prints the wheelhouse folder (building if needed)
# Env:    LLAMA_CPP_VERSION  (default 0.3.36)
#         LLAMA_CMAKE_ARGS   (default: the portable CPU flags below; a CUDA build is
#                             "-DGGML_CUDA=on", see plugins/llama-cpp/README.md)
#         ALTLAS_WHEELHOUSE  (root of the wheelhouses)
#         PYTHON             (interpreter that builds; default .venv's, else python3)
# Only the last line of stdout is the folder; build logs go to stderr.
set -euo pipefail

ALTLAS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLAMA_CPP_VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
LLAMA_CMAKE_ARGS="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ALTLAS_ROOT/.venv/bin/python" ]; then
        PYTHON="$ALTLAS_ROOT/.venv/bin/python"
    else
        PYTHON=python3
    fi
fi

# The key covers what changes the binary: the flags and the machine. Not the Python
# version: the wheel loads llama.cpp through ctypes (py3-none), any Python 3 takes it.
key="$(printf '%s|%s' "$LLAMA_CMAKE_ARGS" "$(uname -m)" | sha256sum | cut -c1-12)"
root="${ALTLAS_WHEELHOUSE:-$HOME/.cache/altlas/wheelhouse}"
house="$root/$LLAMA_CPP_VERSION-$key"

find_wheel() {
    compgen -G "$house/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl" >/dev/null
}

mkdir -p "$root"
# Two installs at once (CI and a developer) must not build twice or see half a wheel.
exec 9>"$root/.lock"
flock 9
if ! find_wheel; then
    echo "building llama-cpp-python==$LLAMA_CPP_VERSION with CMAKE_ARGS=$LLAMA_CMAKE_ARGS" >&2
    tmp="$(mktemp -d "$root/.build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "$PYTHON" -m pip --disable-pip-version-check wheel \
        --no-cache-dir --no-deps --wheel-dir "$tmp" "llama-cpp-python==$LLAMA_CPP_VERSION" >&2
    mkdir -p "$house"
    printf '%s\n' "$LLAMA_CMAKE_ARGS" >"$tmp/CMAKE_ARGS"
    mv "$tmp"/* "$house"/
fi
echo "$house"
