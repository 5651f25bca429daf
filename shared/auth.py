"""API keys: generated once, shown once, stored as SHA-256 hashes with scopes.

PostgreSQL holds the keys; Redis holds a mirror (hash -> id and scopes) so that checking a key on
the ingest hot path needs no database — ingest keeps accepting events while PostgreSQL is down.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.db import ApiKey
from shared.redis_keys import API_KEYS

KEY_PREFIX = "pw_"


class Scope(StrEnum):
    EVENTS_WRITE = "events:write"
    SUBSCRIPTIONS_WRITE = "subscriptions:write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: Scope) -> bool:
        return scope.value in self.scopes or Scope.ADMIN.value in self.scopes


@dataclass(frozen=True, slots=True)
class NewKey:
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    secret: str  # the only time the plaintext exists outside the caller's hands


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _mirror_value(key: ApiKey) -> bytes:
    return orjson.dumps(
        {"id": str(key.id), "name": key.name, "scopes": key.scopes, "hash": key.key_hash}
    )


def create_key(session: Session, client: Redis, name: str, scopes: list[Scope]) -> NewKey:
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        id=uuid.uuid4(),
        name=name,
        prefix=prefix,
        key_hash=hash_key(plaintext),
        scopes=sorted(s.value for s in scopes),
    )
    session.add(row)
    session.flush()
    client.hset(API_KEYS, row.key_hash, _mirror_value(row))
    return NewKey(row.id, name, prefix, row.scopes, plaintext)


def revoke_key(session: Session, client: Redis, prefix_or_id: str) -> bool:
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix_or_id)).first()
    if row is None:
        try:
            row = session.get(ApiKey, uuid.UUID(prefix_or_id))
        except ValueError:
            row = None
    if row is None or row.revoked_at is not None:
        return False
    session.execute(update(ApiKey).where(ApiKey.id == row.id).values(revoked_at=datetime.now(UTC)))
    client.hdel(API_KEYS, row.key_hash)
    return True


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def sync_mirror(session: Session, client: Redis) -> int:
    """Rebuild the Redis mirror from PostgreSQL (at start-up, and after Redis lost its data)."""
    live = session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).all()
    pipe = client.pipeline()
    pipe.delete(API_KEYS)
    for row in live:
        pipe.hset(API_KEYS, row.key_hash, _mirror_value(row))
    pipe.execute()
    return len(live)


async def lookup(client: aioredis.Redis, presented: str) -> Principal | None:
    if not presented.startswith(KEY_PREFIX):
        return None
    digest = hash_key(presented)
    raw = await client.hget(API_KEYS, digest)
    if raw is None:
        return None
    data: dict[str, Any] = orjson.loads(raw)
    # The lookup is by digest already; compare again in constant time so that no code path
    # ever decides on a key with an early-exit string comparison.
    if not hmac.compare_digest(str(data.get("hash", "")), digest):
        return None
    return Principal(str(data["id"]), str(data["name"]), frozenset(data["scopes"]))
