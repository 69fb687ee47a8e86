"""``Models`` over HTTP. ``register`` checks and serializes the model on this machine exactly
as the embedded registry does, sends the files' chunks the server lacks through the datasets
chunk transfer, then commits the version; ``load`` reads the files into this machine's model
cache (verified) and loads them here."""

from __future__ import annotations

import builtins
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import blake3

from loopml.api.models import AliasChange, ModelFile, ModelSummary, ModelUpload, ModelVersion
from loopml.blobs.export import export
from loopml.client.http import Http
from loopml.core.errors import Conflict, IntegrityError, InvalidInput, NotFound
from loopml.core.names import validate_alias, validate_name
from loopml.core.paths import safe_relpath
from loopml.datasets.send import Sender
from loopml.models import load as load_mod
from loopml.models import register as register_mod
from loopml.models.loaded import LoadedModel

_READ_BYTES = 1024 * 1024


class RemoteModels:
    def __init__(self, http: Http, services: Any) -> None:
        self.http = http
        self.services = services
        self.cache_dir: Path = services.settings.cache_dir

    def register(
        self,
        name: str,
        model: Any,
        *,
        run: Any = None,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        signature: Any = None,
        input_example: Any = None,
        flavor: str | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        flavor_name, given_metrics, given_params, user_tags = register_mod.check_request(
            name,
            model,
            metrics=metrics,
            params=params,
            flavor=flavor,
            tags=tags,
            description=description,
        )
        run_id = self._run_id(run)
        prepared = register_mod.serialize(
            flavor_name,
            model,
            metrics=given_metrics,
            params=given_params,
            tags=user_tags,
            description=description,
            signature=signature,
            input_example=input_example,
        )
        datasets = self.services.datasets
        sender = Sender(datasets, datasets.hashes(), None)
        scratch = self.cache_dir / "push"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch, prefix="model-") as tmp:
            files: list[tuple[str, Path]] = []
            for i, (path, content) in enumerate(sorted(prepared.contents.items())):
                if isinstance(content, Path):
                    files.append((path, content))
                else:
                    written = Path(tmp) / str(i)
                    written.write_bytes(content)
                    files.append((path, written))
            upload = ModelUpload(
                flavor=prepared.flavor,
                files=sender.send(files),
                run_id=run_id,
                metrics=prepared.metrics,
                params=prepared.params,
                signature=prepared.signature,
                tags=prepared.tags,
                description=prepared.description,
            )
            try:
                version = self.commit_version(name, upload)
            except Conflict as exc:
                if "not stored" not in exc.message:
                    raise
                sender.forget()  # a gc took chunks meanwhile: send what is missing now
                sender.send(files)
                version = self.commit_version(name, upload)
        sender.remember_hashes()
        return version

    def _run_id(self, run: Any) -> str | None:
        """The id of the run to link (default: the active run, if it is this client's); its
        buffered metrics are flushed first, so the server reads them."""
        from loopml.tracker.active import current_run

        current = current_run()
        if run is None:
            if current is None or current.tracker is not self.services.tracker:
                return None
            run = current.id
        run_id = run if isinstance(run, str) else getattr(run, "id", None)
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInput(f"run must be a run id or a run object, not a {type(run).__name__}")
        if current is not None and current.id == run_id:
            current.flush()
        return run_id

    def commit_version(self, name: str, upload: ModelUpload) -> ModelVersion:
        validate_name(name, "model name")
        return self.http.send("POST", f"/models/{name}/versions", upload, ModelVersion)

    def load(self, ref: str, trusted: bool | None = None) -> LoadedModel:
        version = self.show(ref)
        return load_mod.load_version(
            version,
            lambda f: load_mod.read_cached(
                self.cache_dir, f, lambda: b"".join(self._read(version, f))
            ),
            trusted,
        )

    def show(self, ref: str) -> ModelVersion:
        return self.http.get("/models/resolve", ModelVersion, {"ref": ref})

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        validate_name(name, "model name")
        return builtins.list(self.http.pages(f"/models/{name}/versions", ModelVersion))

    def list(self) -> builtins.list[ModelSummary]:
        return builtins.list(self.http.pages("/models", ModelSummary))

    def best_version(self, name: str, metric: str, mode: str = "max") -> ModelVersion:
        validate_name(name, "model name")
        return self.http.get(f"/models/{name}/best", ModelVersion, {"metric": metric, "mode": mode})

    def set_alias(self, name: str, alias: str, version: int | str) -> AliasChange:
        validate_name(name, "model name")
        validate_alias(alias)
        return self.http.send(
            "PUT", f"/models/{name}/aliases/{alias}", {"version": version}, AliasChange
        )

    def delete_alias(self, name: str, alias: str) -> AliasChange:
        validate_name(name, "model name")
        validate_alias(alias)
        from loopml.api import codec

        answer = self.http.request("DELETE", f"/models/{name}/aliases/{alias}")
        return codec.decode(answer.content, AliasChange)

    def open_file(self, ref: str, path: str) -> tuple[ModelFile, Iterator[bytes]]:
        version = self.show(ref)
        for f in version.files:
            if f.path == path:
                return f, self._read(version, f)
        raise NotFound(f"model {version.ref} has no file {path!r}")

    def pull(self, ref: str, dest: str | os.PathLike[str]) -> Path:
        version = self.show(ref)
        files = [(f.path, f.digest, f.size) for f in version.files]
        return export(_Files(self, version), files, dest, single=False)

    def _read(self, version: ModelVersion, f: ModelFile) -> Iterator[bytes]:
        """The bytes of ``f`` streamed from the server, verified against its digest."""
        safe_relpath(f.path)
        whole = blake3.blake3()
        total = 0
        with self.http.stream(
            "GET",
            f"/models/{version.name}/versions/{version.version}/files/{quote(f.path, safe='/')}",
        ) as response:
            for data in response.iter_bytes(_READ_BYTES):
                whole.update(data)
                total += len(data)
                yield data
        if total != f.size or whole.hexdigest() != f.digest:
            raise IntegrityError(
                f"file {f.path!r} of model {version.ref} arrived with other bytes than its "
                f"digest {f.digest}; try again, and run loopml fsck on the server if it persists"
            )


class _Files:
    """The files of one model version as an export source."""

    def __init__(self, models: RemoteModels, version: ModelVersion) -> None:
        self.models = models
        self.version = version
        self.by_digest = {f.digest: f for f in version.files}

    def write_to(self, digest: str, f: BinaryIO) -> None:
        for data in self.models._read(self.version, self.by_digest[digest]):
            f.write(data)
        f.flush()
        os.fsync(f.fileno())


def build(http: Http, services: Any) -> RemoteModels:
    return RemoteModels(http, services)
