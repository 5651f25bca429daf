"""shared/content_hash.py: the digest stored rows keep (`events.raw.hash`) never changes bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.content_hash import content_hash

DATA = {"company": "acme", "title": "Acme raises", "sources": [{"url": "https://e.x/a"}], "n": 3}
DATA_NON_ASCII = {**DATA, "é": "ü"}


class TestContentHash:
    # Pinned to what ingest and the worker computed before the function was shared.
    @pytest.mark.parametrize(
        ("time", "expected"),
        [
            (
                datetime(2024, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
                "b79ad1af68e83ce0d4be6ec0eca2666d8af5e81a279b1549f65e52fe6ec67a8f",
            ),
            (None, "64ca18c8518ba57ffb45afd7a3a30c5f601ee228f0ef6d88d2feccaf5e10a287"),
        ],
    )
    def test_digest_is_stable(self, time: datetime | None, expected: str) -> None:
        assert content_hash(DATA_NON_ASCII, time) == expected

    def test_key_order_does_not_matter(self) -> None:
        moment = datetime(2024, 3, 1, tzinfo=UTC)
        assert content_hash(dict(reversed(DATA.items())), moment) == content_hash(DATA, moment)

    def test_other_time_is_other_content(self) -> None:
        moment = datetime(2024, 3, 1, tzinfo=UTC)
        assert content_hash(DATA, moment) != content_hash(DATA, moment + timedelta(seconds=1))
