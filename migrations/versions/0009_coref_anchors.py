"""enrich: the anchors coreference compares (models, amounts, people, agencies, places, actions)

Revision ID: 0009_coref_anchors
Revises: 0008_delivery_claims
Create Date: 2026-12-03 15:00:00

Coreference (services/enrich/coref.py) decides whether a report tells a stored happening by what
identifies it. The anchors are computed once, when the event is enriched, and read with the
candidates. Events stored before this revision have none until `pivotwatch reenrich` runs:
without anchors they can still be matched by their words, never vetoed by a conflict.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_coref_anchors"
down_revision: str | None = "0008_delivery_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column("anchors", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("events", "anchors")
