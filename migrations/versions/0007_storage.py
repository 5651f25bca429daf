"""the enrich worker finds the stored events near a chunk's dates by index

Revision ID: 0007_storage
Revises: 0006_perf
Create Date: 2026-11-29 17:00:00

The candidate query of a chunk asks, per report, for the canonical events whose span
[occurred_start, occurred_end] overlaps a window of a few weeks. An index on occurred_start only
bounds such a search from above (an event that started long before may still overlap), so every
report's window scanned all earlier history. Events spanning at most NARROW_SPAN_DAYS (31: a day
or a month) are found by occurred_start between window start - 31 days and window end on the
existing chronological index; this partial index holds the few wider spans (years, intervals,
open ends), found by occurred_end.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_storage"
down_revision: str | None = "0006_perf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_events_wide_spans",
        "events",
        ["occurred_end", "occurred_start"],
        postgresql_where=sa.text("duplicate_of IS NULL AND occurred_end - occurred_start > 31"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_wide_spans", table_name="events")
