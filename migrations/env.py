"""Alembic environment: migrates the database named by the settings (or the config's URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from shared.db import Base
from shared.settings import get_settings

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or get_settings().sync_database_url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
