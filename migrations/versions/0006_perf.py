"""as-of reads find a company's versions by index

Revision ID: 0006_perf
Revises: 0005_enrich
Create Date: 2026-11-29 13:40:00

A timeline read `as_of` a moment picks, per event, the latest version recorded by then. Without
an index on the company inside the version snapshot that meant reading every version of every
event (a sequential scan of event_versions) for one company's page. These two indexes let the
query start from the events that ever belonged to the company (or named it as a co-company).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_perf"
down_revision: str | None = "0005_enrich"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_event_versions_company", "event_versions", [sa.text("(data ->> 'company')")]
    )
    op.create_index(
        "ix_event_versions_companies",
        "event_versions",
        [sa.text("(data -> 'companies')")],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index("ix_event_versions_companies", table_name="event_versions")
    op.drop_index("ix_event_versions_company", table_name="event_versions")
