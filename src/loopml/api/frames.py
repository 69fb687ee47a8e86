"""Chunks on the wire: a binary stream of frames, each the chunk's 32-byte BLAKE3 digest, its
length as 4 big-endian bytes, then its bytes. Chunk uploads (``POST /chunks``) and bulk chunk
reads (``POST /chunks/get``) carry this stream; it is never JSON."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from loopml.core.errors import InvalidInput

DIGEST_BYTES = 32
HEADER_BYTES = DIGEST_BYTES + 4
MAX_CHUNK = 16 * 1024 * 1024  # far above the chunker's largest chunk; a bound for readers
MEDIA_TYPE = "application/octet-stream"


def frame_header(digest_hex: str, size: int) -> bytes:
    """The header of one frame: the digest as raw bytes, then the length."""
    return bytes.fromhex(digest_hex) + size.to_bytes(4, "big")


def encode_frames(chunks: Iterable[tuple[str, bytes | memoryview]]) -> Iterator[bytes]:
    """The frames of ``chunks`` as pieces to send in order (header, bytes, header, ...)."""
    for digest, data in chunks:
        yield frame_header(digest, len(data))
        yield bytes(data)


def decode_frames(body: bytes | memoryview) -> list[tuple[str, memoryview]]:
    """Every chunk of a whole stream of frames; InvalidInput if it is cut short."""
    view = memoryview(body)
    out: list[tuple[str, memoryview]] = []
    at = 0
    while at < len(view):
        if len(view) - at < HEADER_BYTES:
            raise InvalidInput(
                f"the chunk stream ends inside a frame header at byte {at}; each frame is a "
                "32-byte digest, a 4-byte big-endian length, then the chunk's bytes"
            )
        digest = bytes(view[at : at + DIGEST_BYTES]).hex()
        size = int.from_bytes(view[at + DIGEST_BYTES : at + HEADER_BYTES], "big")
        start = at + HEADER_BYTES
        if size > MAX_CHUNK or start + size > len(view):
            raise InvalidInput(
                f"chunk {digest}: the frame says {size} bytes but the stream holds "
                f"{len(view) - start}; send each chunk whole"
            )
        out.append((digest, view[start : start + size]))
        at = start + size
    return out


class FrameReader:
    """Reads frames from a stream of byte pieces as they arrive (a streamed response)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()

    def _fill(self, n: int) -> bool:
        while len(self._buffer) < n:
            piece = next(self._pieces, None)
            if piece is None:
                return False
            self._buffer += piece
        return True

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        while True:
            if not self._fill(HEADER_BYTES):
                if self._buffer:
                    raise InvalidInput("the chunk stream ended inside a frame header")
                return
            digest = bytes(self._buffer[:DIGEST_BYTES]).hex()
            size = int.from_bytes(self._buffer[DIGEST_BYTES:HEADER_BYTES], "big")
            if size > MAX_CHUNK or not self._fill(HEADER_BYTES + size):
                raise InvalidInput(f"the chunk stream ended inside chunk {digest}")
            data = bytes(self._buffer[HEADER_BYTES : HEADER_BYTES + size])
            del self._buffer[: HEADER_BYTES + size]
            yield digest, data
