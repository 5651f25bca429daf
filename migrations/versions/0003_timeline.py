"""timeline read indexes

Revision ID: 0003_timeline
Revises: 0001
Create Date: 2026-11-29 14:00:00

- a company's timeline filtered by one category keeps the chronological order inside the index
  (company, category, occurred_start, occurred_end, id), instead of walking all of the company's
  rows and filtering;
- the merged timeline matches co-companies (`companies && ARRAY[...]`), which a GIN index serves;
- an event's incoming links are looked up by `event_links.b`, which the primary key (a, b, kind)
  does not serve.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_timeline"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_events_company_category_chrono",
        "events",
        ["company", "category", "occurred_start", "occurred_end", "id"],
        unique=False,
    )
    op.create_index(
        "ix_events_companies", "events", ["companies"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_event_links_b", "event_links", ["b"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_links_b", table_name="event_links")
    op.drop_index("ix_events_companies", table_name="events", postgresql_using="gin")
    op.drop_index("ix_events_company_category_chrono", table_name="events")
