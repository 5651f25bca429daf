"""notify: the trace context each delivery's attempts continue

Revision ID: 0010_delivery_traceparent
Revises: 0009_coref_anchors
Create Date: 2026-12-04 10:00:00

With tracing on (shared/tracing.py) the fan-out stores its span's W3C `traceparent` with each
delivery it creates, so every attempt, a retry sent by beat hours later included, is a span of
the event's trace. Nullable with no default (NULL when tracing is off): adding it rewrites no
rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_delivery_traceparent"
down_revision: str | None = "0009_coref_anchors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("traceparent", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "traceparent")
