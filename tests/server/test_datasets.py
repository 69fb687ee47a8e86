"""Datasets over a real server process: push and pull through ``LOOPML_URI`` sending only the
chunks the server lacks, verified uploads, resumed pushes, and refused file paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import blake3
import httpx
import pytest

from loopml.api.frames import frame_header
from loopml.client.datasets import RemoteDatasets
from loopml.connect import Services, connect
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.settings import load_settings
from tests.conftest import run_cli
from tests.plugins.server import ServerProcess

pytestmark = pytest.mark.timeout(120)

API = "/api/v1"


@pytest.fixture
def remote(server: ServerProcess, tmp_path: Path) -> Iterator[Services]:
    services = connect(load_settings(env={}, home=str(tmp_path / "client"), uri=server.url))
    try:
        yield services
    finally:
        services.close()


def _files(root: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, (name, size) in enumerate(sorted(sizes.items())):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_random(size, seed * 1000 + i))
    return root


def _random(size: int, seed: int) -> bytes:
    # Deterministic, incompressible and free of repeats (every chunk distinct).
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += blake3.blake3(f"{seed}:{counter}".encode()).digest(length=65536)
        counter += 1
    return bytes(out[:size])


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_push_pull_load_through_the_server(remote: Services, tmp_path: Path) -> None:
    data = _files(tmp_path / "data", {"a.bin": 300_000, "sub/b.bin": 700_000})
    ds = remote.datasets
    first = ds.push("images", data, message="first")
    assert first.created and first.version.ref == "images@1"
    assert first.bytes_new == 1_000_000
    assert ds.push("images", data).created is False  # identical content: no new version
    assert [s.name for s in ds.list()] == ["images"]
    assert [v.version for v in ds.versions("images")] == [1]
    shown = ds.show("images")
    assert shown.version == 1 and {f.path for f in shown.files} == {"a.bin", "sub/b.bin"}
    out = ds.pull("images@1", tmp_path / "out")
    assert _tree(out) == _tree(data)
    loaded = ds.load("images")
    assert _tree(Path(loaded)) == _tree(data)


def test_repush_after_a_small_change_sends_only_changed_chunks(
    remote: Services, tmp_path: Path
) -> None:
    data = _files(tmp_path / "data", {"big.bin": 4_000_000})
    ds = remote.datasets
    assert isinstance(ds, RemoteDatasets)
    ds.push("logs", data / "big.bin")
    sent_before = ds.bytes_uploaded
    raw = bytearray((data / "big.bin").read_bytes())
    raw[2_000_000:2_000_100] = b"x" * 100  # a small change in the middle
    (data / "big.bin").write_bytes(bytes(raw))
    second = ds.push("logs", data / "big.bin")
    sent = ds.bytes_uploaded - sent_before
    assert second.created and second.version.version == 2
    assert 0 < second.bytes_new <= 600_000  # a few chunks around the change, not 4 MB
    assert sent <= second.bytes_new + 64 * 20  # frames add 36 bytes a chunk, nothing more
    assert [f["path"] for f in ds.diff("logs@1", "logs@2")["files_changed"]] == ["big.bin"]
    out = ds.pull("logs@2", tmp_path / "out.bin")
    assert out.read_bytes() == bytes(raw)


def test_interrupted_push_resumes_sending_only_what_is_missing(
    remote: Services, tmp_path: Path
) -> None:
    sizes = {f"part-{i}.bin": 400_000 for i in range(6)}
    data = _files(tmp_path / "data", sizes)
    ds = remote.datasets
    assert isinstance(ds, RemoteDatasets)
    ds.batch_bytes = 100_000  # several upload requests a file

    class Interrupted(Exception):
        pass

    def stop(_n: int) -> None:
        raise Interrupted  # after the first file each worker finishes

    with pytest.raises(Interrupted):
        ds.push("parts", data, progress=stop)
    with pytest.raises(NotFound):
        ds.show("parts")  # nothing committed
    result = ds.push("parts", data)
    total = sum(sizes.values())
    assert result.created
    assert 0 < result.bytes_new < total  # what the interrupted push sent is not sent again
    assert _tree(ds.pull("parts", tmp_path / "out")) == _tree(data)


def test_a_chunk_that_does_not_match_its_digest_is_refused(
    server: ServerProcess, remote: Services
) -> None:
    good = b"good bytes" * 100
    bad = b"bad bytes" * 100
    good_digest = blake3.blake3(good).hexdigest()
    claimed = blake3.blake3(b"something else").hexdigest()
    body = frame_header(good_digest, len(good)) + good + frame_header(claimed, len(bad)) + bad
    with httpx.Client(base_url=server.url + API) as http:
        answer = http.post(
            "/chunks", content=body, headers={"content-type": "application/octet-stream"}
        )
        assert answer.status_code == 422
        assert claimed in answer.json()["error"]
        one = http.put(
            f"/chunks/{claimed}", content=bad, headers={"content-type": "application/octet-stream"}
        )
        assert one.status_code == 422
        cut = http.post(
            "/chunks", content=body[:-5], headers={"content-type": "application/octet-stream"}
        )
        assert cut.status_code in (400, 422) and "error" in cut.json()
        assert http.get(f"/chunks/{good_digest}").status_code == 404
    # nothing of the refused request was recorded, not even the good chunk
    assert remote.datasets.missing_chunks([good_digest, claimed]) == [good_digest, claimed]
    with pytest.raises(InvalidInput):
        remote.datasets.put_chunks([(claimed, bad)])
    stored = remote.datasets.put_chunks([(good_digest, good)])
    assert [c.digest for c in stored] == [good_digest]
    assert next(iter(remote.datasets.get_chunks([good_digest]))) == (good_digest, good)


def test_commit_naming_a_missing_chunk_is_a_conflict(remote: Services) -> None:
    from loopml.api.datasets import Manifest, ManifestFile

    digest = blake3.blake3(b"never sent").hexdigest()
    manifest = Manifest("file", (ManifestFile("x.bin", 10, digest, (digest,)),))
    with pytest.raises(Conflict, match="not stored"):
        remote.datasets.commit_version("ghost", manifest)
    with pytest.raises(NotFound):
        remote.datasets.show("ghost")


def test_files_are_served_as_attachments_and_traversal_is_refused(
    server: ServerProcess, remote: Services, tmp_path: Path
) -> None:
    data = _files(tmp_path / "data", {"a.csv": 1000, "sub/b.bin": 5000})
    remote.datasets.push("files", data)
    base = f"{server.url}{API}/datasets/files/versions/1"
    with httpx.Client() as http:
        one = http.get(f"{base}/files/sub/b.bin")
        assert one.status_code == 200 and one.content == (data / "sub/b.bin").read_bytes()
        assert one.headers["x-content-type-options"] == "nosniff"
        assert one.headers["content-disposition"].startswith("attachment;")
        assert one.headers["content-type"] == "application/octet-stream"
        version = http.get(base)
        assert version.status_code == 200 and version.json()["version"] == 1
        again = http.get(base, headers={"if-none-match": version.headers["etag"]})
        assert again.status_code == 304
        manifest = http.get(f"{base}/manifest")
        assert {f["path"] for f in manifest.json()["files"]} == {"a.csv", "sub/b.bin"}
        for raw in (
            "/files/../../etc/passwd",
            "/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/files/%252e%252e%252fetc%252fpasswd",
            "/files/sub%2f..%2f..%2fa.csv",
            "/files//etc/passwd",
            "/files/%2fetc%2fpasswd",
            "/files/a.csv%00",
            "/files/sub%5cb.bin",
            "/files/sub\\b.bin",
            "/files/" + "x" * 5000,
            "/files/a.csv%23",
            "/files/a.csv%3f",
            "/files/a.csv;x",
        ):
            answer = http.send(httpx.Request("GET", httpx.URL(base + raw)))
            assert 400 <= answer.status_code < 500, raw
            assert "error" in answer.json(), raw
        for name in ("..", "%2e%2e", "a" * 300, "x%00y", "a%5cb"):
            answer = http.get(f"{server.url}{API}/datasets/{name}/versions")
            assert 400 <= answer.status_code < 500, name
            assert "error" in answer.json(), name


def test_pagination_of_versions(server: ServerProcess, remote: Services, tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    for i in range(3):
        path.write_text(f"version {i}\n")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
        remote.datasets.push("paged", path)
    with httpx.Client(base_url=server.url + API) as http:
        first = http.get("/datasets/paged/versions", params={"limit": 2}).json()
        assert [v["version"] for v in first["items"]] == [1, 2]
        rest = http.get(
            "/datasets/paged/versions",
            params={"limit": 2, "page_token": first["next_page_token"]},
        ).json()
        assert [v["version"] for v in rest["items"]] == [3] and rest["next_page_token"] is None
    assert [v.version for v in remote.datasets.versions("paged")] == [1, 2, 3]


def test_cli_push_and_pull_through_the_server(remote_env: dict[str, str], tmp_path: Path) -> None:
    data = _files(tmp_path / "data", {"one.bin": 200_000})
    pushed = run_cli(remote_env, "datasets", "push", "cli-ds", str(data), "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert '"created": true' in pushed.stdout
    (data / "two.bin").write_bytes(b"a second file")
    again = run_cli(remote_env, "datasets", "push", "cli-ds", str(data), "-m", "two")
    assert again.returncode == 0 and "cli-ds@2" in again.stdout, again.stderr
    listed = run_cli(remote_env, "datasets", "list")
    assert listed.returncode == 0 and "cli-ds" in listed.stdout
    shown = run_cli(remote_env, "datasets", "show", "cli-ds@2", "--json")
    assert shown.returncode == 0 and '"two.bin"' in shown.stdout, shown.stderr
    diffed = run_cli(remote_env, "datasets", "diff", "cli-ds@1", "cli-ds@2", "--json")
    assert diffed.returncode == 0 and '"two.bin"' in diffed.stdout, diffed.stderr
    pulled = run_cli(remote_env, "datasets", "pull", "cli-ds@2", str(tmp_path / "out"))
    assert pulled.returncode == 0, pulled.stderr
    assert _tree(tmp_path / "out") == _tree(data)
    missing = run_cli(remote_env, "datasets", "pull", "nope", str(tmp_path / "x"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
