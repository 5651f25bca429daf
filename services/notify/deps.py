"""The dependencies of the notify routes, as `Annotated` aliases: the settings, the request's
unit of work (`shared.http`: commit on success, roll back on error) and the calling key, which
needs the `subscriptions:write` scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.auth import Principal, Scope
from shared.http import SessionDep, SettingsDep, require

__all__ = ["Manager", "SessionDep", "SettingsDep"]

Manager = Annotated[Principal, Depends(require(Scope.SUBSCRIPTIONS_WRITE))]
