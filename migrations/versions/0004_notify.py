"""notify: per-endpoint rate limit slot and retry rounds

Revision ID: 0004_notify
Revises: 0003_timeline
Create Date: 2026-11-30 10:00:00

`subscriptions.rate_next_at` is the next free send slot of a rate-limited endpoint (a GCRA
"theoretical arrival time"), kept in PostgreSQL so every dispatcher shares it.
`deliveries.schedule_from` is the attempt count at which the current retry round began, so a
manual retry or replay gets the whole schedule again without losing the attempt count.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_notify"
down_revision: str | None = "0003_timeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscriptions", sa.Column("rate_next_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "deliveries",
        sa.Column("schedule_from", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_index(
        "ix_deliveries_pending_sequence",
        "deliveries",
        ["subscription_id", "sequence"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_deliveries_pending_sequence",
        table_name="deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_column("deliveries", "schedule_from")
    op.drop_column("subscriptions", "rate_next_at")
