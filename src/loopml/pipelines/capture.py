"""Capturing what a step prints: file descriptors 1 and 2 go to temporary files while it runs
(so output of C extensions and child processes is caught too), kept up to a bound."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

LIMIT = 64 * 1024  # bytes kept per stream: the first and last halves of longer output


@dataclass
class Captured:
    stdout: str = ""
    stderr: str = ""


def _bounded(data: bytes, limit: int = LIMIT) -> str:
    if len(data) > limit:
        half = limit // 2
        cut = len(data) - 2 * half
        data = data[:half] + f"\n… {cut} bytes cut …\n".encode() + data[-half:]
    return data.decode("utf-8", "replace")


@functools.cache
def _files() -> tuple[IO[bytes], IO[bytes]]:
    """Two anonymous temporary files per process, reused by every step it runs."""
    return tempfile.TemporaryFile(), tempfile.TemporaryFile()


@contextlib.contextmanager
def capture_output() -> Iterator[Captured]:
    """Redirect stdout and stderr (Python's and the file descriptors) while the block runs."""
    result = Captured()
    streams = [(1, sys.stdout), (2, sys.stderr)]
    saved: list[tuple[int, int]] = []
    files = _files()
    try:
        for (fd, stream), tmp in zip(streams, files, strict=True):
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.flush()
            tmp.seek(0)
            tmp.truncate()
            saved.append((fd, os.dup(fd)))
            os.dup2(tmp.fileno(), fd)
        yield result
    finally:
        for _, stream in streams:
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.flush()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        texts = []
        for tmp in files:
            tmp.seek(0)
            size = os.fstat(tmp.fileno()).st_size
            if size > LIMIT:
                head = tmp.read(LIMIT // 2)
                tmp.seek(size - LIMIT // 2)
                tail = tmp.read()
                cut = f"\n… {size - LIMIT} bytes cut …\n".encode()
                texts.append((head + cut + tail).decode("utf-8", "replace"))
            else:
                texts.append(_bounded(tmp.read()))
        result.stdout, result.stderr = [*texts, "", ""][:2]
