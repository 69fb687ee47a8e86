"""covering indexes for run search: (key, value, run_id) on latest_metrics, and on run_params
and run_tags in SQLite (PostgreSQL caps b-tree entries below the longest param and tag values)

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")
    op.create_index(
        "ix_latest_metrics_key_value_run_id", "latest_metrics", ["key", "value", "run_id"]
    )
    if op.get_bind().dialect.name == "sqlite":
        for table in ("run_params", "run_tags"):
            op.create_index(f"ix_{table}_key_value_run_id", table, ["key", "value", "run_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in ("run_params", "run_tags"):
            op.drop_index(f"ix_{table}_key_value_run_id", table_name=table)
    op.drop_index("ix_latest_metrics_key_value_run_id", table_name="latest_metrics")
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
