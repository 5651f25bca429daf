"""Per-process clients for worker processes (Celery tasks, the relay).

Built on first use in the process that uses them — after a prefork worker forks, never at import —
and rebuilt if the process id changes, since a connection pool must not cross a fork.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from redis import Redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from shared.db import make_engine, session_factory
from shared.settings import Settings, get_settings


@dataclass
class Resources:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Any]
    redis: Redis
    pid: int

    def close(self) -> None:
        self.engine.dispose()
        self.redis.close()


_current: Resources | None = None


def resources() -> Resources:
    global _current
    if _current is None or _current.pid != os.getpid():
        settings = get_settings()
        engine = make_engine(settings)
        client = Redis.from_url(
            settings.redis_url,
            socket_timeout=10,
            socket_connect_timeout=5,
            health_check_interval=10,
        )
        _current = Resources(settings, engine, session_factory(engine), client, os.getpid())
    return _current
