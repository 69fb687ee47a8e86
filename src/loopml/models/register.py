"""Registering a model object or file as the next version of a named model."""

from __future__ import annotations

import functools
import io
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import blake3
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.datasets import ManifestFile
from loopml.api.events import ModelVersionCreated
from loopml.api.models import ModelFile, ModelUpload, ModelVersion
from loopml.blobs import chunks as blob_chunks
from loopml.blobs.chunks import record_files
from loopml.core.errors import Conflict, InvalidInput, NotFound, StoreError
from loopml.core.identity import whoami
from loopml.core.names import is_digest, validate_key, validate_name
from loopml.core.paths import safe_relpath
from loopml.meta.events import append_event
from loopml.models import repository as repo
from loopml.models.flavors import INPUT_EXAMPLE, MANIFEST, SavedModel, get_flavor, infer_flavor
from loopml.models.signature import Signature, as_data, infer_spec
from loopml.stores import Stores

MANIFEST_FORMAT = 1
_EXAMPLE_ROWS = 20


class RunLike(Protocol):
    """What registration reads from a tracked run."""

    @property
    def id(self) -> str: ...

    @property
    def params(self) -> Mapping[str, str]: ...

    @property
    def metrics(self) -> Mapping[str, float]: ...

    @property
    def inputs(self) -> Sequence[str]: ...


class Tracking(Protocol):
    """The part of the tracking service registration uses."""

    def get_run(self, run_id: str) -> RunLike: ...


class RunHandle(Protocol):
    """An active run: its id and the tracker it writes through."""

    @property
    def id(self) -> str: ...

    @property
    def tracker(self) -> Any: ...

    def flush(self) -> None: ...


@dataclass(frozen=True)
class Lineage:
    run_id: str | None
    metrics: dict[str, float] | None
    params: dict[str, Any] | None
    datasets: tuple[str, ...]


def check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Metrics as finite floats; NaN, infinities, booleans and text are refused."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise InvalidInput("metrics must be a mapping of names to numbers, e.g. {'auc': 0.91}")
    out = {}
    for key, value in metrics.items():
        validate_key(key, "metric")
        number: float | None = None
        if not isinstance(value, bool | str | bytes):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
        if number is None or not math.isfinite(number):
            raise InvalidInput(
                f"metric {key!r} must be a finite number, got {value!r}; "
                "record NaN or missing scores as a tag instead"
            )
        out[key] = number
    return out


def check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters as JSON scalars; other values (lists, objects, NaN) are kept as text."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidInput("params must be a mapping of names to values, e.g. {'C': 1.0}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        validate_key(key, "param")
        if hasattr(value, "item") and not hasattr(value, "__len__"):
            value = value.item()  # numpy scalar
        if (
            value is None
            or isinstance(value, bool | int | str)
            or (isinstance(value, float) and math.isfinite(value))
        ):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def check_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInput("tags must be a mapping of names to text, e.g. {'team': 'risk'}")
    return {validate_key(k, "tag"): str(v) for k, v in tags.items()}


def run_lineage(
    tracking: Tracking | None, run: Any, active: Callable[[], RunHandle | None] | None = None
) -> Lineage:
    """Run id, latest metrics, params and input dataset versions of ``run`` (an id, a unique
    id prefix or a run object; by default the active run, when it belongs to ``tracking``),
    read through the tracking service."""
    if run is None and tracking is not None and active is not None:
        current = active()
        if current is not None and getattr(current, "tracker", None) is tracking:
            run = current.id
    if run is None:
        return Lineage(None, None, None, ())
    run_id = run if isinstance(run, str) else getattr(run, "id", None)
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput(f"run must be a run id or a run object, not a {type(run).__name__}")
    if tracking is None:
        raise InvalidInput(
            "run= needs experiment tracking; register through loopml.register_model or "
            "Client.models, which are connected to it"
        )
    facts = tracking.get_run(run_id)
    return Lineage(
        facts.id,
        check_metrics(facts.metrics),
        check_params(facts.params),
        tuple(facts.inputs),
    )


def _signature(
    flavor_name: str, model: Any, signature: Any, input_example: Any
) -> tuple[Signature | None, Any]:
    """The signature to store and the example frame/array (or None)."""
    flavor = get_flavor(flavor_name)
    example = None if input_example is None else as_data(input_example, "input_example")
    if signature is not None:
        sig = signature if isinstance(signature, Signature) else Signature.from_dict(signature)
        if example is not None:
            sig.validate(example)
        return sig, example
    if example is None:
        return flavor.default_signature(model), None
    predictor = flavor.wrap(model)
    try:
        output = predictor.predict(example)
    except Exception as exc:  # any failure of user or library code on the example
        raise InvalidInput(
            f"the model cannot predict on input_example ({type(exc).__name__}: {exc}); pass "
            "an example shaped like the training data"
        ) from exc
    return Signature(infer_spec(example), infer_spec(as_data(output, "model output"))), example


def _example_bytes(example: Any) -> bytes:
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        text = example.head(_EXAMPLE_ROWS).to_json(orient="split", index=False, date_format="iso")
        return text.encode()
    return json.dumps({"data": example[:_EXAMPLE_ROWS].tolist()}).encode()


@functools.cache
def _loopml_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("loopml")
    except PackageNotFoundError:
        return "unknown"


def _manifest(flavor: str, saved: SavedModel, sig: Signature | None, example: bool) -> bytes:
    doc = {
        "format": MANIFEST_FORMAT,
        "flavor": flavor,
        "files": sorted(saved.files),
        "signature": None if sig is None else sig.to_dict(),
        "input_example": INPUT_EXAMPLE if example else None,
        "flavor_meta": saved.meta,
        "loopml_version": _loopml_version(),
    }
    return json.dumps(doc, indent=2, sort_keys=True).encode()


@dataclass(frozen=True)
class Prepared:
    """A model checked and serialized on the caller's machine, ready to store: its flavor,
    the metrics and params given (None: take the run's), tags, description, signature and
    the files (bytes, or a path for a file registered as it is)."""

    flavor: str
    metrics: dict[str, float] | None
    params: dict[str, Any] | None
    tags: dict[str, str]
    description: str | None
    signature: dict[str, Any] | None
    contents: dict[str, bytes | Path]


def check_request(
    name: str,
    model: Any,
    *,
    metrics: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    flavor: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> tuple[str, dict[str, float] | None, dict[str, Any] | None, dict[str, str]]:
    """Flavor, metrics, params and tags of a registration, every value checked first."""
    validate_name(name, "model name")
    flavor_name = infer_flavor(model) if flavor is None else get_flavor(flavor).NAME
    given_metrics = None if metrics is None else check_metrics(metrics)
    given_params = None if params is None else check_params(params)
    user_tags = check_tags(tags)
    if description is not None and not isinstance(description, str):
        raise InvalidInput("description must be text")
    return flavor_name, given_metrics, given_params, user_tags


def serialize(
    flavor_name: str,
    model: Any,
    *,
    metrics: dict[str, float] | None,
    params: dict[str, Any] | None,
    tags: dict[str, str],
    description: str | None,
    signature: Signature | dict[str, Any] | None = None,
    input_example: Any = None,
) -> Prepared:
    """The files of ``model`` as its flavor saves them, with the example and the manifest."""
    saved = get_flavor(flavor_name).save(model)
    sig, example = _signature(flavor_name, model, signature, input_example)
    contents: dict[str, bytes | Path] = dict(saved.files)
    if example is not None:
        contents[INPUT_EXAMPLE] = _example_bytes(example)
    contents[MANIFEST] = _manifest(flavor_name, saved, sig, example is not None)
    return Prepared(
        flavor_name,
        metrics,
        params,
        tags,
        description,
        None if sig is None else sig.to_dict(),
        contents,
    )


def register(
    stores: Stores,
    tracking: Tracking | None,
    name: str,
    model: Any,
    *,
    run: Any = None,
    metrics: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    signature: Signature | dict[str, Any] | None = None,
    input_example: Any = None,
    flavor: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    active: Callable[[], RunHandle | None] | None = None,
) -> ModelVersion:
    """Store ``model`` as the next version of ``name``: all checks first, then the files,
    then one transaction for the version row, its files and its event."""
    flavor_name, given_metrics, given_params, user_tags = check_request(
        name,
        model,
        metrics=metrics,
        params=params,
        flavor=flavor,
        tags=tags,
        description=description,
    )
    lineage = run_lineage(tracking, run, active)
    prepared = serialize(
        flavor_name,
        model,
        metrics=given_metrics,
        params=given_params,
        tags=user_tags,
        description=description,
        signature=signature,
        input_example=input_example,
    )
    contents = prepared.contents

    with stores.blobs.ingest() as ingest:
        try:
            files = []
            for path, content in sorted(contents.items()):
                if isinstance(content, Path):
                    stored = ingest.add_path(content)
                else:
                    stored = ingest.add_stream(io.BytesIO(content))
                files.append(ModelFile(path, stored.size, stored.digest))
            ingest.finish()
        except BaseException:
            ingest.abort()
            raise

        version = record_version(
            stores,
            name,
            lineage,
            prepared,
            files,
            ingest.commit,
        )
        ingest.remember_hashes()  # a .onnx file registered again is not re-read
    return version


def record_version(
    stores: Stores,
    name: str,
    lineage: Lineage,
    prepared: Prepared,
    files: list[ModelFile],
    record_files: Callable[[Connection], None],
) -> ModelVersion:
    """One transaction: the files (``record_files`` on the connection), the version row and
    its event, numbered under the model's lock."""
    now = time.time()
    user = whoami()
    flavor_name = prepared.flavor
    values: dict[str, Any] = {
        "run_id": lineage.run_id,
        "flavor": flavor_name,
        "signature": prepared.signature,
        "metrics": prepared.metrics if prepared.metrics is not None else (lineage.metrics or {}),
        "params": prepared.params if prepared.params is not None else (lineage.params or {}),
        "datasets": list(lineage.datasets),
        "tags": prepared.tags,
        "description": prepared.description,
        "created_at": now,
        "created_by": user,
    }
    try:
        with stores.meta.write() as conn:
            mid = repo.lock_model(conn, name, now, user)
            number = (repo.latest_number(conn, mid) or 0) + 1
            record_files(conn)
            repo.insert_version(conn, {"model_id": mid, "version": number, **values}, files)
            append_event(
                conn,
                ModelVersionCreated(
                    name, number, flavor_name, lineage.run_id, dict(values["metrics"])
                ),
            )
    except sa.exc.IntegrityError as exc:
        # The only foreign key a caller controls is the run; numbering is under the lock.
        if lineage.run_id is None:
            raise StoreError(f"registering {name!r} failed: {exc.orig}") from exc
        raise NotFound(
            f"run {lineage.run_id!r} does not exist; list runs with: loopml runs list"
        ) from exc
    return ModelVersion(
        name=name,
        version=number,
        flavor=flavor_name,
        run_id=lineage.run_id,
        signature=values["signature"],
        metrics=values["metrics"],
        params=values["params"],
        datasets=lineage.datasets,
        tags=prepared.tags,
        description=prepared.description,
        created_at=now,
        created_by=user,
        files=tuple(files),
    )


def commit_upload(
    stores: Stores, tracking: Tracking | None, name: str, upload: ModelUpload
) -> ModelVersion:
    """The next version of ``name`` from files whose chunks were uploaded already (Conflict
    names a chunk that is not stored). Every value is checked as for :func:`register`; every
    file path must be relative and in normal form, so none can point outside the version."""
    validate_name(name, "model name")
    flavor_name = get_flavor(upload.flavor).NAME
    metrics = None if upload.metrics is None else check_metrics(upload.metrics)
    params = None if upload.params is None else check_params(upload.params)
    tags = check_tags(upload.tags)
    signature = None
    if upload.signature is not None:
        signature = Signature.from_dict(upload.signature).to_dict()
    check_files(upload.files)
    lineage = run_lineage(tracking, upload.run_id)
    prepared = Prepared(flavor_name, metrics, params, tags, upload.description, signature, {})
    files = [ModelFile(f.path, f.size, f.digest) for f in upload.files]
    chunked = [(f.digest, f.size, [bytes.fromhex(c) for c in f.chunks]) for f in upload.files]
    with stores.blobs.gc_off():
        _check_contents(stores, upload.files)
        return record_version(
            stores,
            name,
            lineage,
            prepared,
            files,
            lambda conn: record_files(conn, chunked),
        )


def _check_contents(stores: Stores, files: Sequence[ManifestFile]) -> None:
    """Every file not stored yet reassembles from its chunks to its own digest and size (a
    model's files are small, so the server reads them back once before recording them)."""
    known = stores.blobs.known_files(f.digest for f in files)
    for f in files:
        if f.digest in known:
            continue
        whole = blake3.blake3()
        total = 0
        missing = blob_chunks.missing_chunks(stores.blobs, [bytes.fromhex(c) for c in f.chunks])
        if missing:
            raise Conflict(
                f"{len(missing)} chunk(s) of model file {f.path!r} are not stored (first: "
                f"{missing[0].hex()}); send them with put_chunks first"
            )
        for _d, data in blob_chunks.read_chunks(stores.blobs, [bytes.fromhex(c) for c in f.chunks]):
            whole.update(data)
            total += len(data)
        if total != f.size or whole.hexdigest() != f.digest:
            raise InvalidInput(
                f"model file {f.path!r}: its chunks reassemble to other content than its "
                f"digest {f.digest} and size {f.size}; send the file's chunks in order"
            )


def check_files(files: Sequence[ManifestFile]) -> None:
    """InvalidInput naming the first file of an upload that is not acceptable."""
    if not files:
        raise InvalidInput(f"the upload lists no files; a model version holds {MANIFEST}")
    seen: set[str] = set()
    for f in files:
        if safe_relpath(f.path) != f.path:
            raise InvalidInput(f"model file path {f.path!r} is not in normal form")
        if f.path in seen:
            raise InvalidInput(f"the upload lists model file {f.path!r} twice")
        seen.add(f.path)
        if f.size < 0:
            raise InvalidInput(f"model file {f.path!r} has a negative size")
        for d in (f.digest, *f.chunks):
            if not is_digest(d):
                raise InvalidInput(f"model file {f.path!r}: {d!r} is not a BLAKE3 digest")
        if f.size > 0 and not f.chunks:
            raise InvalidInput(f"model file {f.path!r} has {f.size} bytes but no chunks")
    if MANIFEST not in seen:
        raise InvalidInput(
            f"the upload has no {MANIFEST}; register models with the SDK or the CLI, which write it"
        )
