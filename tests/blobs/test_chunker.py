"""Chunking bytes in memory cuts and digests exactly as chunking the same bytes as a stream."""

from __future__ import annotations

import io
import random

import pytest

from loopml.blobs.chunker import BLOCK, MAX_SIZE, BytesChunks, FileChunks


@pytest.mark.parametrize(
    "size", [0, 1, 4096, MAX_SIZE + 1, BLOCK - 1, BLOCK + MAX_SIZE + 7, 2 * BLOCK + 3]
)
def test_bytes_chunks_match_stream_chunks(size: int) -> None:
    data = random.Random(size).randbytes(size)
    stream = FileChunks(io.BytesIO(data))
    from_stream = [(d, bytes(v)) for block in stream for d, v in block]
    in_memory = BytesChunks(data)
    from_memory = [(d, bytes(v)) for block in in_memory for d, v in block]
    assert from_memory == from_stream
    assert b"".join(v for _, v in from_memory) == data
    assert (in_memory.digest, in_memory.size) == (stream.digest, stream.size)
