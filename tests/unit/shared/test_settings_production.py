"""Production refuses servers without a password or with a well-known default one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings, weak_credentials

GOOD_DB = "postgresql://pivotwatch:Vb7c2QwLx@db:5432/pivotwatch"
GOOD_REDIS = "redis://:x9Lp4TzQ@redis:6379/0"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://pivotwatch:pivotwatch@postgres:5432/pivotwatch", "well-known default"),
        ("postgresql://postgres@db/x", "no password"),
        ("redis://redis:6379/0", "no password"),
        ("redis://:Password@redis:6379/0", "well-known default"),
        ("postgresql://u:%70ivotwatch@db/x", "well-known default"),  # percent-encoded
    ],
)
def test_weak_credentials_are_named(url: str, reason: str) -> None:
    assert reason in (weak_credentials(url) or "")


@pytest.mark.parametrize("url", [GOOD_DB, GOOD_REDIS, "unix:///run/redis.sock"])
def test_real_ones_pass(url: str) -> None:
    assert weak_credentials(url) is None


def test_production_refuses_the_old_compose_password_and_development_does_not() -> None:
    old = "postgresql://pivotwatch:pivotwatch@postgres:5432/pivotwatch"
    with pytest.raises(ValidationError, match="PIVOTWATCH_DATABASE_URL has a well-known default"):
        Settings(env="production", database_url=old, redis_url=GOOD_REDIS)
    assert Settings(env="development", database_url=old, redis_url=GOOD_REDIS).database_url == old
    Settings(env="production", database_url=GOOD_DB, redis_url=GOOD_REDIS)
