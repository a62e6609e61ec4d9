# shellcheck shell=bash
# Shared helpers for scripts/* (sourced, not run).
log()  { printf '%s [%s] %s\n' "$(date +%T)" "$(basename "$0")" "$*" >&2; }
step() { printf '\n==> %s\n' "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

# The Python that the default environment uses: pyenv's 3.13.0 where present, else python3.13.
find_python313() {
    local root
    root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    if [[ -x $root/versions/3.13.0/bin/python3.13 ]]; then echo "$root/versions/3.13.0/bin/python3.13"; return; fi
    command -v python3.13 || die "Python 3.13 not found (install it with pyenv or apt)"
}

# A uv binary: the one on PATH, else one installed into a small bootstrap venv.
find_uv() {
    if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
    if [[ ! -x .venv-tools/bin/uv ]]; then
        log "installing uv into .venv-tools"
        "$(find_python313)" -m venv .venv-tools >&2
        .venv-tools/bin/pip install -q uv >&2
    fi
    echo "$PWD/.venv-tools/bin/uv"
}

# Create or update .venv from requirements_test.txt (re-installs when the pins change).
ensure_venv() {
    local uv stamp want
    uv=$(find_uv)
    [[ -x .venv/bin/python ]] || { log "creating .venv"; "$uv" venv -q -p "$(find_python313)" .venv; }
    want=$(cat requirements_test.txt pyproject.toml | sha256sum | cut -c1-16)
    stamp=.venv/.requirements-$want
    if [[ ! -e $stamp ]]; then
        log "installing test requirements (uv, --compile-bytecode)"
        VIRTUAL_ENV=$PWD/.venv "$uv" pip install -q --compile-bytecode -r requirements_test.txt
        VIRTUAL_ENV=$PWD/.venv "$uv" pip install -q --no-deps -e .
        rm -f .venv/.requirements-*; touch "$stamp"
    fi
}

# Can the lab run here? (root, network/mount/pid namespaces)
lab_why_not() {
    [[ $(id -u) == 0 ]] || { echo "not root"; return; }
    unshare --net --mount --pid --fork true 2>/dev/null || { echo "no namespaces"; return; }
    echo ""
}
lab_possible() { [[ -z $(lab_why_not) ]]; }
