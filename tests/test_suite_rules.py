"""Rules of the test suite itself, checked on its source: every test asserts something, and
the contract suite never skips (a backend that does not apply is not generated)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent

# What counts as checking: an ``assert`` statement, ``pytest.raises``/``pytest.warns`` (the
# test fails unless the call raises or warns), or a call to a helper of this suite whose name
# says it checks (``assert_*``/``check_*``). A helper is trusted only if it asserts itself
# (checked below), so the rule cannot be met by naming alone.
CHECKING_CALLS = ("raises", "warns")
HELPER_PREFIXES = ("assert_", "check_")


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _checks(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in CHECKING_CALLS and isinstance(node.func, ast.Attribute):
                return True
            if name.startswith(HELPER_PREFIXES):
                return True
    return False


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found += [
                n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
    return found


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(TESTS.rglob("*.py"))]


def test_every_test_function_asserts_something() -> None:
    silent = [
        f"{path.relative_to(TESTS.parent)}:{fn.lineno} {fn.name}"
        for path, tree in _sources()
        if path.name.startswith("test_")
        for fn in _functions(tree)
        if fn.name.startswith("test_") and not _checks(fn)
    ]
    assert silent == [], "test functions that assert nothing:\n" + "\n".join(silent)


def test_checking_helpers_check_something() -> None:
    silent = [
        f"{path.relative_to(TESTS.parent)}:{fn.lineno} {fn.name}"
        for path, tree in _sources()
        for fn in _functions(tree)
        if fn.name.startswith(HELPER_PREFIXES) and not _checks(fn)
    ]
    assert silent == [], "helpers named as checks that assert nothing:\n" + "\n".join(silent)


def test_the_rule_sees_a_silent_test() -> None:
    tree = ast.parse(
        "def test_quiet():\n    x = 1\n"
        "def test_loud():\n    assert 1\n"
        "def test_raises():\n    with pytest.raises(E):\n        f()\n"
        "def test_helper():\n    assert_same(1, 1)\n"
    )
    assert [fn.name for fn in _functions(tree) if not _checks(fn)] == ["test_quiet"]


SKIPS = ("skip", "skipif", "importorskip", "xfail")


def _skips(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, name) of every ``pytest.skip(...)``, ``pytest.mark.skipif``… in ``tree``."""
    return [
        (node.lineno, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in SKIPS
    ]


def test_the_contract_suite_never_skips() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)}:{line} {name}"
        for path, tree in _sources()
        if path.parent.name == "contract"
        for line, name in _skips(tree)
    ]
    assert found == [], "the contract suite generates only what applies; found:\n" + "\n".join(
        found
    )


def test_the_skip_rule_sees_markers_and_calls() -> None:
    tree = ast.parse(
        "@pytest.mark.skipif(True, reason='x')\ndef test_a():\n    pytest.skip('no')\n"
    )
    assert sorted(name for _, name in _skips(tree)) == ["skip", "skipif"]
