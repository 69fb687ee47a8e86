#!/usr/bin/env bash
# Create the benchmark-only venvs and tools that bench_serving.py compares loopml against.
#
#   bash benchmarks/setup_serving_venvs.sh
#
# benchmarks/.venv-mlflow:  MLflow 3.x + scikit-learn (``mlflow models serve``; also runs the bare
#                           FastAPI + uvicorn app, since MLflow brings FastAPI and uvicorn).
# benchmarks/.venv-bentoml: BentoML 1.4 + scikit-learn.
# wrk (Debian's package) and taskset (util-linux) as the load generator and CPU pinning.
# Idempotent: what is already there is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

make_venv() {  # make_venv DIR CHECK-MODULE PIP-ARGS...
    local venv="$1" module="$2"
    shift 2
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import $module, sklearn, pandas" 2>/dev/null; then
        echo "$module already in $venv"
        return
    fi
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    "$venv/bin/python" -c "import $module, sklearn; print('$module', $module.__version__, 'installed in $venv')"
}

make_venv "$here/.venv-mlflow" mlflow 'mlflow>=3,<4' scikit-learn 'uvicorn[standard]'
make_venv "$here/.venv-bentoml" bentoml 'bentoml>=1.4,<1.5' scikit-learn pandas

if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk
fi
command -v taskset >/dev/null || { echo "taskset (util-linux) is missing" >&2; exit 1; }
echo "wrk: $(wrk --version 2>&1 | head -1)"
