#!/usr/bin/env bash
# Create the benchmark-only venvs that hold the tools loopml is compared against.
#
#   bash benchmarks/setup_venvs.sh
#
# benchmarks/.venv-dvc: DVC 3.x from PyPI, kept apart from the project venv so its large
# dependency tree never mixes with loopml's. Idempotent: an existing venv whose dvc already
# reports a 3.x version is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-dvc"
python="${PYTHON:-python3}"

dvc_ok() {
    [ -x "$venv/bin/dvc" ] || return 1
    local v
    v="$(DVC_NO_ANALYTICS=1 "$venv/bin/dvc" --version 2>/dev/null)" || return 1
    [[ "$v" == 3.* ]]
}

if dvc_ok; then
    echo "dvc $(DVC_NO_ANALYTICS=1 "$venv/bin/dvc" --version) already in $venv"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'dvc>=3,<4'

dvc_ok || { echo "dvc 3.x did not install in $venv" >&2; exit 1; }
echo "dvc $(DVC_NO_ANALYTICS=1 "$venv/bin/dvc" --version) installed in $venv"
