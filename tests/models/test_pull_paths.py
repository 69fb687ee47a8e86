"""A model pull writes only what it creates, through the SDK and the CLI alike."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopml.blobs.export import STAGING_PREFIX
from loopml.core.errors import Conflict, InvalidInput
from loopml.core.settings import load_settings
from loopml.models.flavors import MANIFEST
from loopml.sdk import Client
from tests.conftest import run_cli


@pytest.fixture
def lite(tmp_path: Path, array_clf: Any) -> Iterator[Client]:
    """One SQLite store holding model ``m`` (path handling does not depend on the database)."""
    settings = load_settings(
        env={},
        home=str(tmp_path / "home"),
        db=f"sqlite:///{tmp_path / 'home' / 'loopml.db'}",
        blobs=str(tmp_path / "blobs"),
    )
    c = Client(settings)
    c.models.register("m", array_clf)
    yield c
    c.close()


def _links(tmp_path: Path) -> list[Path]:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (tmp_path / "empty").mkdir()
    links = []
    for name, target in [("f", victim), ("d", tmp_path / "empty"), ("x", tmp_path / "nowhere")]:
        links.append(tmp_path / f"link_{name}")
        links[-1].symlink_to(target)
    return links


def _untouched(tmp_path: Path) -> None:
    assert (tmp_path / "victim.txt").read_bytes() == b"precious"
    assert list((tmp_path / "empty").iterdir()) == []
    assert not (tmp_path / "nowhere").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)] == []


def test_a_model_pull_to_a_link_is_refused(lite: Client, tmp_path: Path) -> None:
    for link in _links(tmp_path):
        for dest in (link, f"{link}/"):
            with pytest.raises(InvalidInput, match="symbolic link"):
                lite.models.pull("m", dest)
    _untouched(tmp_path)


def test_a_model_pull_with_or_without_a_slash_fills_the_folder(
    lite: Client, tmp_path: Path
) -> None:
    (tmp_path / "empty_dir").mkdir()
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "home_link").symlink_to(real)
    for dest in [
        str(tmp_path / "a"),
        f"{tmp_path / 'b'}/",
        f"{tmp_path / 'empty_dir'}/",
        str(tmp_path / "home_link" / "c"),
    ]:
        out = lite.models.pull("m", dest)
        assert out == Path(dest) and (out / MANIFEST).is_file()
    assert (real / "c" / "model.skops").is_file()
    with pytest.raises(Conflict, match="not an empty folder"):
        lite.models.pull("m", tmp_path / "a")
    with pytest.raises(InvalidInput, match="refuses the name"):
        lite.models.pull("m", tmp_path / ("n" * 256))


def test_the_models_cli_reports_pull_errors_without_a_traceback(
    lite: Client, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(
        LOOPML_HOME=str(lite.settings.home),
        LOOPML_DB=lite.settings.db_url,
        LOOPML_BLOBS=lite.settings.blobs_url,
    )
    links = _links(tmp_path)
    for dest, message in [
        (str(links[0]), "symbolic link"),
        (f"{links[2]}/", "symbolic link"),
        (str(tmp_path / ("n" * 300)), "refuses the name"),
    ]:
        r = run_cli(env, "models", "pull", "m", dest)
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = run_cli(env, "models", "pull", "m", f"{tmp_path / 'ok'}/")
    assert r.returncode == 0 and (tmp_path / "ok" / MANIFEST).is_file(), r.stderr
    _untouched(tmp_path)
