"""Wait until Redis and PostgreSQL serve requests before a process starts its work.

A server that accepts connections may not serve yet: Redis answers LOADING while it reads its AOF,
PostgreSQL refuses sessions while it starts up or recovers. `pivotwatch up`, `migrate`, the HTTP
services, the relay, and the Celery worker and beat (through Celery signals) wait here: one line
when they start to wait, one when the server is ready, and `DependencyNotReady` (a message for the
user, no traceback) once the server is not ready in time. Messages name host:port, never a URL.

    DependencyNotReady      not ready in time, or refused us (credentials, unknown database)
    └── WaitAbandoned       the caller stopped the wait (Ctrl-C, the server process exited)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from celery import Celery

    from shared.settings import Settings

log = logging.getLogger("pivotwatch.waiting")

# A server that answers but is still loading or recovering gets this long: loading a large AOF,
# or replaying a lot of WAL after a crash, takes minutes.
BUSY_TIMEOUT = 300.0
# A server that does not answer at all (not started yet, restarting) gets this long in a row.
DOWN_TIMEOUT = 120.0
POLL_SECONDS = 0.1

Say = Callable[[str], None]


class DependencyNotReady(RuntimeError):
    """Redis or PostgreSQL is not ready in time, or refuses us; the message is for the user."""


class WaitAbandoned(DependencyNotReady):
    """The caller stopped the wait before the server was ready."""


class State(Enum):
    READY = "ready"
    BUSY = "busy"  # answers, but does not serve yet (loading, starting up, recovering)
    DOWN = "down"  # does not answer
    REFUSED = "refused"  # answers and refuses us: waiting will not help


@dataclass(frozen=True)
class Probe:
    state: State
    # What we wait for it to do, completing "waiting for Redis at host:port to ...".
    waiting_for: str = ""
    # The server's or the driver's own words, for the error message.
    reason: str = ""


READY = Probe(State.READY)


# -- pure parts ----------------------------------------------------------------------------------
def server_address(url: str, default_port: int) -> str:
    """host:port of a Redis or PostgreSQL URL, without the user name or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        socket_dir = parse_qs(parts.query).get("host", [""])[0]
        return socket_dir or "the local socket"
    return ",".join(
        h if h.rpartition(":")[2].isdigit() and not h.endswith("]") else f"{h}:{default_port}"
        for h in hosts.split(",")
    )


def scrub(text: str, url: str) -> str:
    """The text with the URL's password, if the URL has one, blanked out."""
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def _megabytes(n: float) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def loading_progress(info: Mapping[str, Any]) -> str:
    """'43% of 112 MB' from Redis's INFO persistence while it loads, or '' when it does not say."""
    total = float(info.get("loading_total_bytes") or 0)
    perc = info.get("loading_loaded_perc")
    if perc is None:
        return _megabytes(total) if total else ""
    done = f"{float(perc):.0f}%"
    return f"{done} of {_megabytes(total)}" if total else done


def redis_loading(progress: str) -> Probe:
    what = "load its dataset" + (f" ({progress})" if progress else "")
    return Probe(State.BUSY, what)


_PG_BUSY = (
    "the database system is starting up",
    "not yet accepting connections",
    "consistent recovery state has not been yet reached",
    "the database system is in recovery mode",
    "the database system is shutting down",
)
_PG_REFUSED = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "authentication failed",
    "permission denied",
)


def postgres_failure(message: str) -> Probe:
    """What a failed connection means, from libpq's message (it carries no SQLSTATE here)."""
    text = message.lower()
    at = text.find("fatal:")
    fatal = message[at + len("fatal:") :].strip() if at >= 0 else ""
    reason = (fatal or message.strip() or "no answer").splitlines()[0]
    if any(s in text for s in _PG_BUSY):
        what = "finish recovery" if "recovery" in text else "finish starting up"
        return Probe(State.BUSY, what, reason)
    if any(s in fatal.lower() for s in _PG_REFUSED):
        return Probe(State.REFUSED, "accept us", reason)
    return Probe(State.DOWN, "accept connections", reason)


def waiting_line(name: str, where: str, probe: Probe) -> str:
    return f"waiting for {name} at {where} to {probe.waiting_for}…"


def ready_line(name: str, waited: float) -> str:
    return f"{name} ready after {waited:.1f} s"


def should_give_up(
    probe: Probe, waited: float, down_for: float, timeout: float, down_timeout: float
) -> bool:
    """Give up on a server that refuses us, that has not been ready for `timeout` seconds in all,
    or that has not answered at all for `down_timeout` seconds in a row."""
    if probe.state is State.READY:
        return False
    if probe.state is State.REFUSED:
        return True
    return waited >= timeout or (probe.state is State.DOWN and down_for >= down_timeout)


def failure_message(name: str, where: str, probe: Probe, waited: float) -> str:
    if probe.state is State.REFUSED:
        return f"{name} at {where} refused the connection: {probe.reason}"
    because = f" ({probe.reason})" if probe.reason else ""
    return (
        f"{name} at {where} is not ready after {waited:.0f} s: it did not "
        f"{probe.waiting_for}{because}"
    )


# -- the loop ------------------------------------------------------------------------------------
def wait_until_ready(
    name: str,
    where: str,
    probe: Callable[[], Probe],
    say: Say,
    *,
    timeout: float = BUSY_TIMEOUT,
    down_timeout: float = DOWN_TIMEOUT,
    stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    interval: float = POLL_SECONDS,
) -> float:
    """Probe until the server is ready; returns the seconds waited. Says one line per kind of
    wait (not answering, loading or recovering), and one line when ready if it said any."""
    started = clock()
    down_since: float | None = None
    said: set[State] = set()
    while True:
        result = probe()
        now = clock()
        waited = now - started
        if result.state is State.READY:
            if said:
                say(ready_line(name, waited))
            return waited
        if result.state is State.DOWN:
            down_since = now if down_since is None else down_since
        else:
            down_since = None
        down_for = 0.0 if down_since is None else now - down_since
        if should_give_up(result, waited, down_for, timeout, down_timeout):
            raise DependencyNotReady(failure_message(name, where, result, waited))
        # Once per kind of wait (no answer, busy): a loading line shows the progress seen first.
        if result.state not in said:
            said.add(result.state)
            say(waiting_line(name, where, result))
        if stop is not None and stop():
            raise WaitAbandoned(f"stopped waiting for {name} at {where}")
        sleep(interval)


# -- the servers ---------------------------------------------------------------------------------
def wait_for_redis(
    url: str,
    say: Say,
    timeout: float = BUSY_TIMEOUT,
    *,
    down_timeout: float = DOWN_TIMEOUT,
    stop: Callable[[], bool] | None = None,
) -> float:
    """Wait until Redis answers PING (not LOADING)."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.exceptions import (
        AuthenticationError,
        AuthorizationError,
        BusyLoadingError,
        NoPermissionError,
        RedisError,
        ResponseError,
    )
    from redis.retry import Retry

    # No retries in the client: this loop is the retry, and it must see each LOADING answer.
    client = Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, retry=Retry(NoBackoff(), 0)
    )

    def probe() -> Probe:
        try:
            client.ping()
        except BusyLoadingError:
            try:
                progress = loading_progress(client.info("persistence"))
            except RedisError:
                progress = ""
            return redis_loading(progress)
        except (AuthenticationError, AuthorizationError, NoPermissionError) as exc:
            return Probe(State.REFUSED, "accept us", scrub(str(exc), url))
        except ResponseError as exc:  # e.g. MASTERDOWN: it answers, but not yet with data
            return Probe(State.BUSY, "answer PING", scrub(str(exc), url))
        except RedisError as exc:
            return Probe(State.DOWN, "accept connections", scrub(str(exc), url))
        return READY

    try:
        return wait_until_ready(
            "Redis",
            server_address(url, 6379),
            probe,
            say,
            timeout=timeout,
            down_timeout=down_timeout,
            stop=stop,
        )
    finally:
        client.close()


def libpq_url(url: str) -> str:
    """A URL psycopg accepts, from any spelling the settings allow (postgresql+psycopg://...)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.partition('+')[0]}{sep}{rest}" if sep else url


def wait_for_postgres(
    url: str,
    say: Say,
    timeout: float = BUSY_TIMEOUT,
    *,
    down_timeout: float = DOWN_TIMEOUT,
    stop: Callable[[], bool] | None = None,
) -> float:
    """Wait until PostgreSQL accepts a connection and answers SELECT 1."""
    import psycopg

    conninfo = libpq_url(url)

    def probe() -> Probe:
        try:
            with psycopg.connect(conninfo, connect_timeout=3, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            return postgres_failure(scrub(str(exc), url))
        except psycopg.Error as exc:
            return Probe(State.DOWN, "accept connections", scrub(str(exc), url))
        return READY

    return wait_until_ready(
        "PostgreSQL",
        server_address(url, 5432),
        probe,
        say,
        timeout=timeout,
        down_timeout=down_timeout,
        stop=stop,
    )


def wait_for_dependencies(
    settings: Settings,
    say: Say,
    *,
    redis: bool = True,
    postgres: bool = True,
    stop: Callable[[], bool] | None = None,
) -> None:
    """Wait for the servers the settings name (an empty URL is skipped)."""
    if redis and settings.redis_url:
        wait_for_redis(settings.redis_url, say, stop=stop)
    if postgres and settings.database_url:
        wait_for_postgres(settings.database_url, say, stop=stop)


# -- Celery --------------------------------------------------------------------------------------
def connect_celery_signals(app: Celery) -> None:
    """Make the app's worker wait for Redis and PostgreSQL, and its beat for Redis, before they
    start (a worker's tasks use both; beat only publishes). Lines go to the process's log."""
    from celery import signals

    def wait_or_exit(*, postgres: bool) -> None:
        from shared.logs import configure_logging
        from shared.settings import get_settings

        settings = get_settings()
        if not logging.getLogger().handlers:  # worker_init comes before Celery sets up logging
            configure_logging("celery", settings.log_level, settings.log_json)
        try:
            wait_for_dependencies(settings, log.info, postgres=postgres)
        except DependencyNotReady as exc:
            log.error("%s", exc)
            # An exception would be logged and swallowed by the signal; this one ends the process
            # (the supervisor or the container runtime starts it again).
            raise SystemExit(1) from None

    def worker_waits(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            wait_or_exit(postgres=True)

    def beat_waits(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            wait_or_exit(postgres=False)

    signals.worker_init.connect(worker_waits, weak=False, dispatch_uid="pivotwatch-wait-worker")
    signals.beat_init.connect(beat_waits, weak=False, dispatch_uid="pivotwatch-wait-beat")
