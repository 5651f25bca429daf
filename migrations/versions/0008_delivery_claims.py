"""notify: when a worker claimed a delivery

Revision ID: 0008_delivery_claims
Revises: 0007_storage
Create Date: 2026-12-01 10:00:00

A claim leases a delivery by moving `next_attempt_at` past the lease, so a delivery being sent
looked like one waiting for its attempt. `deliveries.claimed_at` is set by the claim and cleared
when the attempt's outcome is written: with it the API tells `processing` (claimed, lease not
run out) from `waiting` and `retrying`. `claimed_by` names the worker (shared/workers.py): a
dead worker's leases are released at once instead of waiting out their length. Nullable with no
default: adding them rewrites no rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_delivery_claims"
down_revision: str | None = "0007_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("deliveries", sa.Column("claimed_by", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "claimed_by")
    op.drop_column("deliveries", "claimed_at")
