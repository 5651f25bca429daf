"""Waiting for Redis and PostgreSQL: the addresses and lines it prints, how it reads a server's
answer, and when it gives up — with scripted probes and a fake clock, no servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from shared.waiting import (
    READY,
    DependencyNotReady,
    Probe,
    State,
    WaitAbandoned,
    loading_progress,
    postgres_failure,
    redis_loading,
    scrub,
    server_address,
    should_give_up,
    wait_until_ready,
    waiting_line,
)

DOWN = Probe(State.DOWN, "accept connections", "Connection refused")
LOADING = redis_loading("43% of 112 MB")


class TestServerAddress:
    @pytest.mark.parametrize(
        ("url", "port", "expected"),
        [
            ("redis://127.0.0.1:56379/0", 6379, "127.0.0.1:56379"),
            ("redis://:s3cret@redis:6379/0", 6379, "redis:6379"),
            ("rediss://user:s3cret@cache.example", 6379, "cache.example:6379"),
            ("unix:///run/redis.sock?db=0", 6379, "/run/redis.sock"),
            ("postgresql://pw:s3cret@db:5433/pivotwatch", 5432, "db:5433"),
            ("postgresql+psycopg://pw:s3cret@db/pivotwatch", 5432, "db:5432"),
            ("postgresql://pw@[::1]:5433/pivotwatch", 5432, "[::1]:5433"),
            ("postgresql://pw@[::1]/pivotwatch", 5432, "[::1]:5432"),
            ("postgresql://pw:s3cret@h1:5433,h2/pivotwatch", 5432, "h1:5433,h2:5432"),
            ("postgresql:///pivotwatch?host=/var/run/postgresql", 5432, "/var/run/postgresql"),
            ("postgresql:///pivotwatch", 5432, "the local socket"),
        ],
    )
    def test_names_host_and_port_never_credentials(
        self, url: str, port: int, expected: str
    ) -> None:
        assert server_address(url, port) == expected
        assert "s3cret" not in server_address(url, port)

    def test_a_password_in_an_error_is_blanked(self) -> None:
        url = "redis://:s3cret@redis:6379/0"
        assert scrub("AUTH s3cret failed", url) == "AUTH *** failed"
        assert scrub("Connection refused", "redis://redis:6379") == "Connection refused"


class TestRedisLoadingLine:
    def test_line_gives_progress_and_size(self) -> None:
        info = {"loading": 1, "loading_total_bytes": 112_000_000, "loading_loaded_perc": 43.12}
        probe = redis_loading(loading_progress(info))
        assert waiting_line("Redis", "127.0.0.1:56379", probe) == (
            "waiting for Redis at 127.0.0.1:56379 to load its dataset (43% of 112 MB)…"
        )

    @pytest.mark.parametrize(
        ("info", "expected"),
        [
            ({"loading_total_bytes": 112_000_000}, "112 MB"),
            ({"loading_loaded_perc": 7.9}, "8%"),
            ({"loading_total_bytes": 48_000, "loading_loaded_perc": 0}, "0% of 48 kB"),
            ({}, ""),
        ],
    )
    def test_progress_says_what_the_server_told(
        self, info: dict[str, float], expected: str
    ) -> None:
        assert loading_progress(info) == expected

    def test_without_progress_the_line_has_no_parentheses(self) -> None:
        line = waiting_line("Redis", "redis:6379", redis_loading(""))
        assert line == "waiting for Redis at redis:6379 to load its dataset…"


class TestPostgresFailure:
    PREFIX = 'connection failed: connection to server at "127.0.0.1", port 55432 failed: '

    @pytest.mark.parametrize(
        ("server_says", "state", "waiting_for"),
        [
            ("FATAL:  the database system is starting up", State.BUSY, "finish starting up"),
            ("FATAL:  the database system is in recovery mode", State.BUSY, "finish recovery"),
            (
                "FATAL:  the database system is not yet accepting connections\n"
                "DETAIL:  Consistent recovery state has not been yet reached.",
                State.BUSY,
                "finish recovery",
            ),
            ("FATAL:  the database system is shutting down", State.BUSY, "finish starting up"),
            (
                "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
                "connections?",
                State.DOWN,
                "accept connections",
            ),
            ("FATAL:  sorry, too many clients already", State.DOWN, "accept connections"),
            ('FATAL:  database "nope" does not exist', State.REFUSED, "accept us"),
            ('FATAL:  role "nobody" does not exist', State.REFUSED, "accept us"),
            (
                'FATAL:  password authentication failed for user "pivotwatch"',
                State.REFUSED,
                "accept us",
            ),
        ],
    )
    def test_reads_libpq_messages(self, server_says: str, state: State, waiting_for: str) -> None:
        probe = postgres_failure(self.PREFIX + server_says)
        assert (probe.state, probe.waiting_for) == (state, waiting_for)
        assert "\n" not in probe.reason
        assert probe.reason in self.PREFIX + server_says

    def test_reason_keeps_the_server_words(self) -> None:
        probe = postgres_failure(self.PREFIX + 'FATAL:  database "MyDB" does not exist')
        assert probe.reason == 'database "MyDB" does not exist'

    def test_recovery_line(self) -> None:
        probe = postgres_failure(self.PREFIX + "FATAL:  the database system is in recovery mode")
        assert waiting_line("PostgreSQL", "db:5432", probe) == (
            "waiting for PostgreSQL at db:5432 to finish recovery…"
        )


class TestShouldGiveUp:
    @pytest.mark.parametrize(
        ("probe", "waited", "down_for", "expected"),
        [
            (READY, 1000.0, 0.0, False),
            (Probe(State.REFUSED, "accept us"), 0.0, 0.0, True),
            (LOADING, 299.0, 0.0, False),
            (LOADING, 300.0, 0.0, True),
            (DOWN, 119.0, 119.0, False),
            (DOWN, 120.0, 120.0, True),
            # Loading for a while, then restarting: only the time without any answer counts.
            (DOWN, 200.0, 10.0, False),
            (DOWN, 300.0, 10.0, True),
        ],
    )
    def test_table(self, probe: Probe, waited: float, down_for: float, expected: bool) -> None:
        assert should_give_up(probe, waited, down_for, timeout=300, down_timeout=120) is expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(
    probes: list[Probe],
    *,
    timeout: float = 300,
    down_timeout: float = 120,
    stop: Callable[[], bool] | None = None,
) -> tuple[float, list[str]]:
    """Wait with the scripted probes (the last repeats), polling every second of fake time."""
    clock = FakeClock()
    script: Iterator[Probe] = iter(probes)
    last = probes[-1]
    lines: list[str] = []

    def probe() -> Probe:
        return next(script, last)

    waited = wait_until_ready(
        "Redis",
        "127.0.0.1:56379",
        probe,
        lines.append,
        timeout=timeout,
        down_timeout=down_timeout,
        clock=clock,
        sleep=clock.sleep,
        interval=1.0,
        stop=stop,
    )
    return waited, lines


class TestWaitUntilReady:
    def test_ready_at_once_says_nothing(self) -> None:
        assert run([READY]) == (0.0, [])

    def test_loading_says_one_line_then_ready(self) -> None:
        busy = [redis_loading(f"{p}% of 112 MB") for p in (10, 40, 70)]
        waited, lines = run([*busy, READY])
        assert waited == 3.0
        assert lines == [
            "waiting for Redis at 127.0.0.1:56379 to load its dataset (10% of 112 MB)…",
            "Redis ready after 3.0 s",
        ]

    def test_one_line_per_kind_of_wait(self) -> None:
        _, lines = run([DOWN, DOWN, LOADING, DOWN, LOADING, READY])
        assert lines == [
            "waiting for Redis at 127.0.0.1:56379 to accept connections…",
            "waiting for Redis at 127.0.0.1:56379 to load its dataset (43% of 112 MB)…",
            "Redis ready after 5.0 s",
        ]

    def test_gives_up_on_a_long_load_with_a_clear_message(self) -> None:
        with pytest.raises(DependencyNotReady) as caught:
            run([LOADING], timeout=30)
        assert not isinstance(caught.value, WaitAbandoned)
        assert str(caught.value) == (
            "Redis at 127.0.0.1:56379 is not ready after 30 s: it did not load its dataset "
            "(43% of 112 MB)"
        )

    def test_gives_up_on_a_server_that_never_answers(self) -> None:
        with pytest.raises(DependencyNotReady, match="not ready after 120 s: it did not accept"):
            run([DOWN])

    def test_an_answer_restarts_the_count_of_silence(self) -> None:
        # 100 s down, loading, 100 s down again: never 120 s in a row.
        waited, _ = run([*[DOWN] * 100, LOADING, *[DOWN] * 100, READY])
        assert waited == 201.0

    def test_refusal_ends_the_wait_at_once(self) -> None:
        refused = Probe(State.REFUSED, "accept us", "WRONGPASS invalid username-password pair")
        with pytest.raises(DependencyNotReady) as caught:
            run([DOWN, refused, READY])
        assert str(caught.value) == (
            "Redis at 127.0.0.1:56379 refused the connection: "
            "WRONGPASS invalid username-password pair"
        )

    def test_stop_abandons_the_wait(self) -> None:
        calls = []

        def stop() -> bool:
            calls.append(1)
            return len(calls) >= 3

        with pytest.raises(WaitAbandoned) as caught:
            run([LOADING], stop=stop)
        assert str(caught.value) == "stopped waiting for Redis at 127.0.0.1:56379"
        assert len(calls) == 3
