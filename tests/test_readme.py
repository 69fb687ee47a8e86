"""Every Python example in the README runs, in order, as one script on a fresh embedded store.

A block preceded by ``<!-- file: NAME -->`` is written to ``NAME`` instead (a pipeline file the
later examples run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- file: (?P<file>[\w./-]+) -->\n)?```python\n(?P<code>.*?)```", re.S)


def test_readme_python_examples_run(tmp_path: Path) -> None:
    script = []
    for m in BLOCK.finditer(README.read_text()):
        if m["file"]:
            (tmp_path / m["file"]).write_text(m["code"])
        else:
            script.append(m["code"])
    assert len(script) >= 4
    (tmp_path / "readme_examples.py").write_text("\n".join(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(tmp_path / ".loopml")
    proc = subprocess.run(
        [sys.executable, "readme_examples.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "True churn@1" in out
    assert "{'old': 2000, 'new': 2400, 'change': 400}" in out
    assert "('churn@1',)" in out
    assert (tmp_path / "restore" / "churn.csv").is_file()
