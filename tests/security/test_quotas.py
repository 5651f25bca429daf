"""Quotas one tenant cannot get past: subscriptions per key (live streams: the timeline tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from services.notify.app import create_app
from shared.auth import Scope
from shared.settings import Settings


class TestSubscriptionsPerKey:
    async def test_past_the_cap_is_429_with_retry_after_and_other_keys_are_unaffected(
        self, settings: Settings, serve: Any, make_key: Callable[..., str]
    ) -> None:
        capped = settings.model_copy(update={"max_subscriptions_per_key": 3})
        greedy = {"authorization": f"Bearer {make_key(Scope.SUBSCRIPTIONS_WRITE, name='g')}"}
        other = {"authorization": f"Bearer {make_key(Scope.SUBSCRIPTIONS_WRITE, name='o')}"}
        admin = {"authorization": f"Bearer {make_key(Scope.ADMIN, name='a')}"}
        body = {"url": "http://127.0.0.1:9/hook"}
        async with serve(create_app(capped)) as client:
            # Created at once: the count is taken under a lock, so none slips past it.
            answers = await asyncio.gather(
                *(client.post("/v1/subscriptions", json=body, headers=greedy) for _ in range(6))
            )
            codes = sorted(r.status_code for r in answers)
            assert codes == [201, 201, 201, 429, 429, 429]
            refused = next(r for r in answers if r.status_code == 429)
            assert refused.headers["retry-after"] == "60"
            assert refused.json()["field"] == "subscriptions"
            assert "3 subscriptions" in refused.json()["detail"]
            assert (
                await client.post("/v1/subscriptions", json=body, headers=other)
            ).status_code == 201
            for _ in range(4):  # an operator's key is not limited
                r = await client.post("/v1/subscriptions", json=body, headers=admin)
                assert r.status_code == 201
            # Deleting one makes room again.
            mine = (await client.get("/v1/subscriptions", headers=greedy)).json()
            assert len(mine) == 3
            await client.delete(f"/v1/subscriptions/{mine[0]['id']}", headers=greedy)
            again = await client.post("/v1/subscriptions", json=body, headers=greedy)
            assert again.status_code == 201
