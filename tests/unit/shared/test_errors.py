"""`unavailable`: which failures become a 503, and which stay the bugs they are."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError as BrokerUnreachable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import DependencyUnavailable, unavailable


class TestUnavailable:
    @pytest.mark.parametrize(
        "failure",
        [
            RedisConnectionError("refused"),
            RedisTimeoutError("timed out"),
            ReadOnlyError("READONLY"),
            ConnectionResetError("reset by peer"),
            BrokerUnreachable("broker down"),
        ],
    )
    def test_an_outage_is_a_503_with_retry_after(self, failure: Exception) -> None:
        with pytest.raises(DependencyUnavailable) as raised, unavailable("Redis is unreachable"):
            raise failure
        assert raised.value.body() == {
            "error": "unavailable",
            "detail": "Redis is unreachable",
            "field": None,
        }
        assert raised.value.retry_after == 2
        assert raised.value.__cause__ is failure

    def test_a_client_side_redis_error_is_not_an_outage(self) -> None:
        with pytest.raises(DataError), unavailable():
            raise DataError("Invalid input of type: 'NoneType'")
