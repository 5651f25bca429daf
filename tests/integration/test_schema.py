"""The migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from shared.db import Base
from shared.settings import Settings


def test_migrations_match_the_models(settings: Settings) -> None:
    engine = create_engine(settings.sync_database_url)
    try:
        with engine.connect() as conn:
            diff: list[Any] = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
