"""Machine-local cache of file digests keyed by (path, size, mtime_ns, inode).

An unchanged file costs a ``stat`` instead of a read. Entries for files modified in the last
two seconds are not stored: a write within the file system's timestamp granularity after
hashing could otherwise go unnoticed (git's "racy clean" problem).

It also keeps each file digest's chunk list (a function of the content and the chunking
parameters, whatever the path), so a push can name an unchanged file's chunks in its manifest
without reading it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

RACY_SECONDS = 2.0
# Named after the chunking parameters (avg, min, max; other parameters cut other chunks),
# spelled out so the quick unchanged-push path does not import the chunker (pyfastcdc: ~40 ms).
CHUNK_LISTS = "chunk_lists_49152_49152_262144"
DIGEST_SIZE = 32


class HashCache:
    def __init__(self, path: Path | None, create: bool = True) -> None:
        """Open the cache at ``path``; with ``create=False`` a missing cache stays missing
        (every lookup misses) and nothing is written."""
        self._db: sqlite3.Connection | None = None
        # One connection shared by the client's threads, one statement at a time.
        self._lock = threading.Lock()
        if path is None or (not create and not path.is_file()):
            return
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            if create:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, "
                    "mtime_ns INTEGER, inode INTEGER, digest TEXT)"
                )
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {CHUNK_LISTS} (digest TEXT PRIMARY KEY, "
                    "chunks BLOB)"
                )
            db.execute("PRAGMA synchronous=OFF")
            self._db = db
        except (OSError, sqlite3.Error):
            # A cache that cannot be opened only costs speed, never correctness.
            self._db = None

    def get(self, path: str, st: os.stat_result) -> str | None:
        if self._db is None:
            return None
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT digest FROM files WHERE path=? AND size=? AND mtime_ns=? AND inode=?",
                    (path, st.st_size, st.st_mtime_ns, st.st_ino),
                ).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else str(row[0])

    def chunk_lists(self, digests: list[str]) -> dict[str, list[bytes]]:
        """File digest → its ordered chunk digests, for the digests the cache knows."""
        if self._db is None or not digests:
            return {}
        out: dict[str, list[bytes]] = {}
        try:
            with self._lock:
                for i in range(0, len(digests), 500):
                    part = digests[i : i + 500]
                    marks = ",".join("?" * len(part))
                    q = f"SELECT digest, chunks FROM {CHUNK_LISTS} WHERE digest IN ({marks})"
                    for d, raw in self._db.execute(q, part):
                        out[d] = [raw[j : j + DIGEST_SIZE] for j in range(0, len(raw), DIGEST_SIZE)]
        except sqlite3.Error:
            return {}
        return out

    def put_chunk_lists(self, items: dict[str, bytes]) -> None:
        """Remember file digest → concatenated chunk digests."""
        if self._db is None or not items:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    f"INSERT OR REPLACE INTO {CHUNK_LISTS} VALUES (?,?)", list(items.items())
                )
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK") if self._db.in_transaction else None

    def put_many(self, items: list[tuple[str, os.stat_result, str]]) -> None:
        if self._db is None or not items:
            return
        fresh = time.time() - RACY_SECONDS
        rows = [
            (p, st.st_size, st.st_mtime_ns, st.st_ino, d)
            for p, st, d in items
            if st.st_mtime_ns / 1e9 < fresh
        ]
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?)", rows)
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK") if self._db.in_transaction else None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
