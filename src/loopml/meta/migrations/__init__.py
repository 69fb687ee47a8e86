"""Alembic migrations. ``HEAD_REVISION`` lets an up-to-date database skip importing Alembic;
a test checks it equals Alembic's own head."""

HEAD_REVISION = "0010"
