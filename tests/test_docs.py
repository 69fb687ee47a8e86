"""The README and docs/ stand alone: links stay inside the repository, and the CLI reference
names every command and option the CLI has."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_points_at_a_file_in_the_repository() -> None:
    assert len(PAGES) >= 3
    for page in PAGES:
        text = page.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, page
        for target in LINK.findall(text):
            if re.match(r"[a-z]+://", target):
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_file(), f"{page.name} links {target}, which does not exist"
            assert ROOT in resolved.parents, f"{page.name} links {target}, outside the repository"


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix} {name}")
        else:
            found.append((f"{prefix} {name}", command))
    return found


def test_cli_reference_names_every_command_and_option() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text()
    with warnings.catch_warnings():  # typer imports a name click deprecates; not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        import typer

        from loopml.cli.app import app
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    commands = _commands(root, "loopml")
    assert len(commands) >= 20
    for path, command in commands:
        assert f"`{path}" in reference, f"docs/cli.md does not describe {path}"
        for param in command.params:
            for flag in getattr(param, "opts", []):
                if flag.startswith("--") and flag != "--help":
                    assert flag in reference, f"docs/cli.md does not mention {path} {flag}"
