"""``loopml demo`` end to end, twice in one home: the second run says what it really did."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.conftest import run_cli


def test_demo_run_twice_reports_reuse_instead_of_repeating_the_first_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(LOOPML_HOME=str(tmp_path / "home"), COLUMNS="200")
    first = run_cli(env, "demo", cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "dataset demo-churn: created version 1 (January export" in first.stdout
    assert "dataset demo-churn: created version 2 (February export" in first.stdout
    assert "production: set to demo-churn@1" in first.stdout
    assert "production: demo-churn@production moved from version 1 to 3" in first.stdout

    second = run_cli(env, "demo", cwd=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr
    out = second.stdout
    assert "dataset demo-churn: version 1 already has this content (reused)" in out
    assert "dataset demo-churn: version 2 already has this content (reused)" in out
    assert "created version" not in out
    assert "two candidates on demo-churn@1" in out
    assert "production: already demo-churn@3" in out
    assert "production: demo-churn@production stays at version 3" in out
    # the new candidates got new numbers, printed from what the registry returned
    assert re.search(r"│ logreg +│ \w+ +│ 4 ", out) and re.search(r"│ forest +│ \w+ +│ 5 ", out)

    for text in (first.stdout, second.stdout):  # one size convention: binary units
        assert "KiB" in text and " bytes" not in text

    listed = json.loads(run_cli(env, "datasets", "list", "--json", cwd=tmp_path).stdout)
    assert [(d["name"], d["version_count"]) for d in listed] == [("demo-churn", 2)]
