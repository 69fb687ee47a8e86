"""Table definitions. Alembic migrations in ``migrations/versions`` create exactly these;
a test compares the two so they cannot drift apart."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Transactional outbox: every write another part reacts to appends a row here, in the same
# transaction as the write itself.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_events_kind_id", "kind", "id"),
)

# --- blob store index: which pack holds which chunk, and which chunks make a file ---
packs = sa.Table(
    "packs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("chunk_count", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("digest", sa.LargeBinary(32), primary_key=True),
    sa.Column("pack_id", sa.String(64), nullable=False, index=True),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("length", sa.Integer, nullable=False),
)

file_objects = sa.Table(
    "file_objects",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    # concatenated 32-byte chunk digests, in file order
    sa.Column("chunk_list", sa.LargeBinary, nullable=False),
)

# --- dataset registry ---
datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("parent_version", sa.Integer, nullable=True),
    sa.Column("content_digest", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # file | folder | dataframe
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("file_count", sa.Integer, nullable=False),
    sa.Column("total_bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("dataset_id", "version"),
)

dataset_files = sa.Table(
    "dataset_files",
    metadata,
    sa.Column("version_id", sa.Integer, sa.ForeignKey("dataset_versions.id"), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("file_digest", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
)

# Every (table, column) that refers to a stored file by digest. ``gc`` keeps exactly the files
# named here; a block that stores files adds its table to this list.
FILE_REFERENCES: list[tuple[sa.Table, str]] = [(dataset_files, "file_digest")]
