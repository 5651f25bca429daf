"""The dependencies of the ingest routes, as `Annotated` aliases: the settings, the Redis client,
the clients built in the lifespan (`IngestState`), and the calling key with the scope a route
needs. `POST /v1/events` reads its key itself (see `endpoints.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.ingest.service import IngestState
from shared.auth import Principal, Scope
from shared.http import RedisDep, SettingsDep, require

__all__ = ["Admin", "IngestDep", "RedisDep", "SettingsDep", "Writer", "get_state"]


async def get_state(request: Request) -> IngestState:
    state: IngestState = request.app.state.ingest
    return state


IngestDep = Annotated[IngestState, Depends(get_state)]
Writer = Annotated[Principal, Depends(require(Scope.EVENTS_WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
