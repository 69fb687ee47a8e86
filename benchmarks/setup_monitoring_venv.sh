#!/usr/bin/env bash
# Create the benchmark-only venv that bench_monitoring.py compares loopml's drift computation
# against:
#
#   bash benchmarks/setup_monitoring_venv.sh
#
# benchmarks/.venv-evidently: Evidently 0.7.x (DataDriftPreset) with pandas < 3 (Evidently does
# not run on pandas 3) and pyarrow to read the generated Parquet files. Kept apart from the
# project venv so its dependency tree never mixes with loopml's. Idempotent: an existing venv
# whose evidently imports is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv-evidently"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import evidently, pandas, pyarrow" 2>/dev/null; then
    echo "evidently already in $venv"
    exit 0
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    'evidently>=0.7,<0.8' 'pandas>=2,<3' pyarrow
"$venv/bin/python" -c "import evidently, pandas; print('evidently', evidently.__version__, 'pandas', pandas.__version__, 'installed in $venv')"
