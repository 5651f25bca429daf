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
from shared.redis_keys import API_KEYS, API_KEYS_GENERATION

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

    def owns(self, owner_key_id: object) -> bool:
        """Whether a row owned by `owner_key_id` is this key's to see: its own, or any for admin."""
        return self.allows(Scope.ADMIN) or str(owner_key_id) == self.key_id


@dataclass(frozen=True, slots=True)
class NewKey:
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    secret: str  # the only time the plaintext exists outside the caller's hands


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_bearer(header: str) -> str | None:
    """The key in an `Authorization: Bearer <key>` header value; None when there is none."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


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
    pipe = client.pipeline()  # MULTI: no reader sees the key gone and the generation unmoved
    pipe.hdel(API_KEYS, row.key_hash)
    pipe.incr(API_KEYS_GENERATION)
    pipe.execute()
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
    pipe.incr(API_KEYS_GENERATION)
    pipe.execute()
    return len(live)


async def lookup(client: aioredis.Redis, presented: str) -> Principal | None:
    if not presented.startswith(KEY_PREFIX):
        return None
    digest = hash_key(presented)
    return _principal(await client.hget(API_KEYS, digest), digest)


def _principal(raw: bytes | str | None, digest: str) -> Principal | None:
    if raw is None:
        return None
    data: dict[str, Any] = orjson.loads(raw)
    # The lookup is by digest already; compare again in constant time so that no code path
    # ever decides on a key with an early-exit string comparison.
    if not hmac.compare_digest(str(data.get("hash", "")), digest):
        return None
    return Principal(str(data["id"]), str(data["name"]), frozenset(data["scopes"]))


@dataclass(frozen=True, slots=True)
class Cached:
    principal: Principal
    generation: str  # of the key mirror when the key was looked up
    expires: float


class PrincipalCache:
    """Principals by key digest, for at most `ttl` seconds, each with the key mirror's generation
    at lookup time. Whoever uses an entry must check that generation in the same Redis round
    trip as its write (ingest's publish script does): a revoked key then stops working on the
    very next request, not after the TTL. The TTL only bounds how long an entry is kept."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, Cached] = {}

    def get(self, digest: str, now: float) -> Cached | None:
        entry = self._entries.get(digest)
        if entry is None or entry.expires <= now:
            return None
        return entry

    def forget(self, digest: str) -> None:
        self._entries.pop(digest, None)

    async def lookup(self, client: aioredis.Redis, presented: str, now: float) -> Cached | None:
        """From the cache, else from Redis (key and generation read atomically)."""
        if not presented.startswith(KEY_PREFIX):
            return None
        digest = hash_key(presented)
        hit = self.get(digest, now)
        if hit is not None:
            return hit
        pipe = client.pipeline()
        pipe.hget(API_KEYS, digest)
        pipe.get(API_KEYS_GENERATION)
        raw, generation = await pipe.execute()
        principal = _principal(raw, digest)
        if principal is None:
            return None
        gen = generation.decode() if isinstance(generation, bytes) else ""
        entry = Cached(principal, gen, now + self.ttl)
        if self.ttl > 0:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = entry
        return entry
