"""The S3 backend: blob objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, …).

Imported only when a ``s3://`` URL is opened, so boto3 stays an optional dependency.
Objects appear atomically on PUT (multipart uploads too, on completion), so publishing a staged
file is a plain upload. Range reads of many nearby chunks are coalesced into few GETs.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import boto3.session
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from loopml.core.errors import InvalidInput, LoopError, NotFound, StoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Ranges closer than this are fetched in one GET: reading a little unused data costs less
# than another request's round trip.
MAX_GAP = 1 << 20
# A coalesced GET never grows beyond this (a single larger range is still fetched whole).
MAX_SPAN = 64 << 20

DEFAULT_REGION = "us-east-1"
ENDPOINT_VARS = ("LOOPML_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")

_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "403",
        "Forbidden",
    }
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_CONNECTION_ERRORS = (
    BotoConnectionError,
    ConnectionClosedError,
    ReadTimeoutError,
    ResponseStreamingError,
)
_CREDENTIAL_ERRORS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    ProfileNotFound,
)


@dataclass(frozen=True)
class Span:
    """One GET covering bytes ``[start, end)`` of an object, serving the ranges ``members``."""

    start: int
    end: int
    members: tuple[int, ...]


def coalesce(
    ranges: list[tuple[int, int]], max_gap: int = MAX_GAP, max_span: int = MAX_SPAN
) -> list[Span]:
    """Group ``(offset, length)`` ranges into spans to fetch; ``members`` index into ``ranges``.

    Ranges that overlap, touch or are less than ``max_gap`` apart share a span, as long as the
    span stays within ``max_span`` bytes. Empty ranges belong to no span.
    """
    order = sorted(
        (i for i, (_, length) in enumerate(ranges) if length > 0), key=ranges.__getitem__
    )
    spans: list[Span] = []
    start = end = 0
    members: list[int] = []
    for i in order:
        offset, length = ranges[i]
        stop = offset + length
        if members and offset - end < max_gap and max(end, stop) - start <= max_span:
            end = max(end, stop)
            members.append(i)
            continue
        if members:
            spans.append(Span(start, end, tuple(members)))
        start, end, members = offset, stop, [i]
    if members:
        spans.append(Span(start, end, tuple(members)))
    return spans


def _endpoint_from_env() -> str | None:
    for var in ENDPOINT_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


def _private_staging_dir() -> Path:
    """A per-user folder under the system temp dir, refusing one another user planted."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    name = "loopml-staging" if uid is None else f"loopml-staging-{uid}"
    path = Path(tempfile.gettempdir()) / name
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
    except OSError as exc:
        raise StoreError(f"cannot create the staging folder {path}: {exc.strerror}") from exc
    if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid):
        raise StoreError(
            f"staging folder {path} is not a folder owned by this user; "
            "remove it or pass a staging folder explicitly"
        )
    return path


class S3Backend:
    """Objects in ``bucket`` under ``prefix``; a local folder stages files before upload."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        staging: Path | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._key_prefix = f"{self.prefix}/" if self.prefix else ""
        self._staging = staging
        self._bucket_seen = False
        try:
            session = boto3.session.Session()
            region = region or session.region_name or DEFAULT_REGION
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        # S3-compatible servers (MinIO, Ceph, moto) expect path-style addressing; AWS itself
        # is reached without an endpoint URL and keeps botocore's own choice.
        config = Config(s3={"addressing_style": "path"}) if endpoint_url else None
        self.region = region
        self.client: S3Client = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )

    @classmethod
    def from_url(cls, url: str, staging: Path | None = None) -> S3Backend:
        """Open ``s3://bucket[/prefix]``; the endpoint comes from ``LOOPML_S3_ENDPOINT_URL``
        or ``AWS_ENDPOINT_URL``, credentials and region from the usual boto3 chain."""
        if not url.startswith("s3://"):
            raise InvalidInput(f"not an S3 URL: {url!r}; expected s3://bucket[/prefix]")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        parts = [p for p in prefix.split("/") if p]
        if not bucket or any(c in url for c in "?# \\") or ".." in parts:
            raise InvalidInput(f"invalid S3 URL {url!r}; expected s3://bucket[/prefix]")
        return cls(bucket, "/".join(parts), endpoint_url=_endpoint_from_env(), staging=staging)

    def __repr__(self) -> str:
        return f"S3Backend({self.url!r}, endpoint_url={self.endpoint_url!r})"

    # -- helpers -------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise InvalidInput(f"invalid blob key {key!r}")
        return self._key_prefix + key

    @property
    def _where(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint_url or f'AWS S3 ({self.region})'}"

    def _error(self, exc: BaseException, key: str | None = None) -> LoopError:
        """Translate a boto3/botocore failure into a loopml error that says what to check."""
        if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
            exc = exc.__context__  # boto3 re-raises the ClientError as a bare message
        where = self._where
        what = f"blob object {key!r} in {where}" if key else where
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return self._missing_bucket()
            if key is not None and code in _MISSING_KEY_CODES:
                return NotFound(f"blob object {key!r} is missing from {self.url} ({where})")
            if code in _AUTH_CODES or status == 403:
                return StoreError(
                    f"access denied to {what} ({code}); check the credentials "
                    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and that they "
                    "allow s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket"
                )
            message = error.get("Message") or str(exc)
            return StoreError(f"S3 request for {what} failed ({code}): {message}")
        if isinstance(exc, _CREDENTIAL_ERRORS):
            return StoreError(
                f"no usable AWS credentials for {where}: {exc}; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
            )
        if isinstance(exc, _CONNECTION_ERRORS):
            return StoreError(
                f"cannot reach {where}: {exc}; check LOOPML_S3_ENDPOINT_URL (or AWS_ENDPOINT_URL) "
                "and that the server is running"
            )
        return StoreError(f"S3 request for {what} failed: {exc}")

    def _missing_bucket(self) -> StoreError:
        return StoreError(
            f"bucket {self.bucket!r} does not exist at endpoint "
            f"{self.endpoint_url or f'AWS S3 ({self.region})'}; "
            "create it or fix LOOPML_BLOBS (and LOOPML_S3_ENDPOINT_URL)"
        )

    def _check_bucket(self) -> None:
        """After a bare 404 (HEAD has no error body), tell a missing bucket from a missing key."""
        if self._bucket_seen:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise self._missing_bucket() from exc
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        self._bucket_seen = True

    def _head(self, key: str) -> int | None:
        """Size of ``key``, or None when it does not exist."""
        full = self._key(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in _MISSING_KEY_CODES:
                raise self._error(exc, key) from exc
            self._check_bucket()
            return None
        except BotoCoreError as exc:
            raise self._error(exc, key) from exc
        self._bucket_seen = True
        return head["ContentLength"]

    def _get(self, key: str, range_header: str | None = None) -> tuple[bytes, bool]:
        """Body of ``key`` (or of one byte range), and whether the server honoured the range."""
        full = self._key(key)
        try:
            if range_header is None:
                response = self.client.get_object(Bucket=self.bucket, Key=full)
            else:
                response = self.client.get_object(Bucket=self.bucket, Key=full, Range=range_header)
            body = response["Body"]
            with contextlib.closing(body):
                data = body.read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "InvalidRange":
                raise StoreError(
                    f"blob object {key!r} in {self._where} is truncated: nothing at {range_header}"
                ) from exc
            raise self._error(exc, key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, key) from exc
        self._bucket_seen = True
        return data, "ContentRange" in response

    # -- Backend -------------------------------------------------------------------------

    def staging_dir(self) -> Path:
        if self._staging is None:
            self._staging = _private_staging_dir()
        else:
            try:
                self._staging.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the staging folder {self._staging}: {exc.strerror}"
                ) from exc
        return self._staging

    def has(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        size = self._head(key)
        if size is None:
            raise NotFound(f"blob object {key!r} is missing from {self.url} ({self._where})")
        return size

    def get(self, key: str) -> bytes:
        return self._get(key)[0]

    def read_ranges(self, key: str, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
        for offset, length in ranges:
            if offset < 0 or length < 0:
                raise InvalidInput(f"invalid byte range ({offset}, {length}) of {key!r}")
        spans = coalesce(ranges)
        span_of: dict[int, int] = {}
        for s, span in enumerate(spans):
            for i in span.members:
                span_of[i] = s
        remaining = [len(span.members) for span in spans]
        # A span's bytes are kept only until its last range is yielded, so reading ranges in
        # offset order holds one span in memory at a time.
        fetched: dict[int, bytes] = {}
        for i, (offset, length) in enumerate(ranges):
            if length == 0:
                yield b""
                continue
            s = span_of[i]
            span = spans[s]
            data = fetched.get(s)
            if data is None:
                data = self._fetch_span(key, span)
                fetched[s] = data
            start = offset - span.start
            yield data[start : start + length]
            remaining[s] -= 1
            if remaining[s] == 0:
                del fetched[s]

    def _fetch_span(self, key: str, span: Span) -> bytes:
        data, ranged = self._get(key, f"bytes={span.start}-{span.end - 1}")
        if not ranged:  # a server that ignores Range sends the whole object
            data = data[span.start : span.end]
        if len(data) != span.end - span.start:
            raise StoreError(
                f"blob object {key!r} in {self._where} is truncated: wanted "
                f"{span.end - span.start} bytes at {span.start}, got {len(data)}"
            )
        return data

    def put_bytes(self, key: str, data: bytes) -> None:
        full = self._key(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from exc
        self._bucket_seen = True

    def put_file(self, key: str, path: Path) -> None:
        full = self._key(key)
        try:
            # boto3 switches to a multipart upload for large files; S3 shows the object only
            # once the upload completes, so readers never see a partial object.
            self.client.upload_file(str(path), self.bucket, full)
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise self._error(exc, key) from exc
        except OSError as exc:
            raise StoreError(f"cannot read staged file {path} for {key!r}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        self._bucket_seen = True

    def delete(self, key: str) -> None:
        full = self._key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from exc

    def mtime(self, key: str) -> float:
        full = self._key(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_KEY_CODES:
                raise NotFound(f"blob object {key!r} is missing from {self._where}") from exc
            raise self._error(exc, key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, key) from exc
        return float(head["LastModified"].timestamp())

    def iter(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        # Like the local backend, a prefix names a folder: "packs" lists "packs/…" only.
        sub = prefix.strip("/")
        list_prefix = f"{self._key_prefix}{sub}/" if sub else self._key_prefix
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=list_prefix):
                self._bucket_seen = True
                for obj in page.get("Contents", []):
                    full = obj.get("Key", "")
                    if full.startswith(self._key_prefix) and not full.endswith("/"):
                        yield full[len(self._key_prefix) :], obj.get("Size", 0)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from exc
