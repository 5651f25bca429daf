"""What the timeline API does, without HTTP: timeline pages rendered in each export format, the
companies and their phases, one event with its links and history, a wrong merge split again, and
the live stream's filter checked. Routes are in `endpoints.py`; SQL in `repository.py`; failures
are the domain errors of `shared.errors`.

Exports: JSON pages (at most PAGE_MAX events, `next_cursor` in the body); the other formats carry
up to EXPORT_MAX events in one document, and when more match, the next page's URL is in a
`Link: <...>; rel="next"` header.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import anyio
import orjson
import redis.asyncio as aioredis
from kombu.exceptions import KombuError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.enrich import split
from services.timeline import exports, phases, repository, stream
from services.timeline.exports import Format
from services.timeline.repository import Doc, TimelineQuery
from shared.celery_app import app as celery_app
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import Category
from shared.redis_keys import NOTIFY_QUEUE, TIMELINE_STREAM, TIMELINE_STREAM_MAXLEN

log = logging.getLogger("pivotwatch.timeline")
PAGE_MAX = 500
EXPORT_MAX = 10_000
PHASES_MAX = 1000


def slug_list(raw: str) -> list[str]:
    return list(dict.fromkeys(s.strip().lower() for s in raw.split(",") if s.strip()))


def categories(raw: list[str] | None) -> list[str] | None:
    if not raw:
        return None
    values = [c.strip() for part in raw for c in part.split(",") if c.strip()]
    for v in values:
        try:
            Category(v)
        except ValueError as exc:
            allowed = ", ".join(c.value for c in Category)
            raise InvalidInput(
                f"unknown category '{v}'; one of {allowed}", field="category"
            ) from exc
    return values


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class Filters:
    """The filters every timeline read takes, checked; `query` makes them a page's query."""

    def __init__(
        self,
        from_: date | None,
        to: date | None,
        category: list[str] | None,
        phase: str | None,
        entity: str | None,
        q: str | None,
        min_importance: int | None,
        include_duplicates: bool,
        as_of: datetime | None,
        limit: int | None,
        cursor: str | None,
    ) -> None:
        if from_ and to and from_ > to:
            raise InvalidInput("'from' is after 'to'", field="from")
        self.limit = limit
        self.as_of = utc(as_of)
        self.kwargs: dict[str, Any] = {
            "date_from": from_,
            "date_to": to,
            "category": categories(category),
            "phase": phase,
            "entity": entity,
            "q": q,
            "min_importance": min_importance,
            "include_duplicates": include_duplicates,
            "as_of": self.as_of,
            "cursor": cursor,
        }

    def query(self, companies: list[str], fmt: Format) -> TimelineQuery:
        if fmt is Format.JSON:
            if self.limit is not None and self.limit > PAGE_MAX:
                raise InvalidInput(
                    f"limit is at most {PAGE_MAX} for JSON (exports allow {EXPORT_MAX})",
                    field="limit",
                )
            limit = self.limit or 50
        else:
            limit = self.limit or EXPORT_MAX
        return TimelineQuery(companies=companies, limit=limit, **self.kwargs)


async def company_phases(session: AsyncSession, company: str, as_of: datetime | None) -> list[Doc]:
    query = TimelineQuery(companies=[company], transitions_only=True, as_of=as_of, limit=PHASES_MAX)
    docs, _ = await repository.page(session, query)
    return phases.derive(docs)


async def require_companies(session: AsyncSession, slugs: list[str], merged: bool) -> None:
    if not slugs:
        return
    missing = await repository.missing_companies(session, slugs, merged)
    if missing:
        raise NotFound(
            f"no events for company '{missing[0]}'", field="companies" if merged else "slug"
        )


def filename(slugs: list[str], fmt: Format) -> str:
    stem = re.sub(r"[^a-z0-9._-]+", "-", "_".join(slugs))[:80] or "timeline"
    return f"{stem}.{exports.EXTENSIONS[fmt]}"


async def render(
    session: AsyncSession,
    filters: Filters,
    slugs: list[str],
    fmt: Format,
    head: dict[str, Any],
    merged: bool,
    url: str,
    next_url: Callable[[str], str],
) -> tuple[bytes, str, dict[str, str]]:
    """A timeline page in `fmt`: its body, media type and headers. `url` is the page's own URL,
    `next_url(cursor)` the next page's."""
    query = filters.query(slugs, fmt)
    docs, cursor = await repository.page(session, query)
    # A company that appears in the page exists; only the others need the existence query
    # (the common case, a non-empty page of one company, costs no second round trip).
    present = {d["company"] for d in docs}
    if merged:
        present.update(c for d in docs for c in d.get("companies") or ())
    await require_companies(session, [s for s in slugs if s not in present], merged)
    if fmt is Format.JSON:
        as_of = {"as_of": filters.as_of.isoformat()} if filters.as_of else {}
        page = {**head, **as_of, "events": docs, "next_cursor": cursor}
        return orjson.dumps(page, option=orjson.OPT_NON_STR_KEYS), "application/json", {}
    title = f"{', '.join(slugs)}: timeline"
    now = datetime.now(UTC)
    meta = exports.Meta(title=title, url=url, generated_at=now)
    content: bytes | str
    if fmt is Format.TIMELINEJS:
        eras = [p for slug in slugs for p in await company_phases(session, slug, filters.as_of)]
        content = orjson.dumps(exports.to_timelinejs(docs, eras, title, now.date()))
    elif fmt is Format.ICS:
        content = exports.to_ics(docs, meta)
    elif fmt is Format.ATOM:
        content = exports.to_atom(docs, meta)
    else:
        content = exports.to_csv(docs)
    headers = {"content-disposition": f'inline; filename="{filename(slugs, fmt)}"'}
    if cursor:
        headers["link"] = f'<{next_url(cursor)}>; rel="next"'
    body = content.encode() if isinstance(content, str) else content
    return body, exports.MEDIA_TYPES[fmt], headers


async def list_companies(session: AsyncSession) -> dict[str, Any]:
    return {"companies": await repository.companies(session)}


async def phase_list(session: AsyncSession, slug: str, as_of: datetime | None) -> dict[str, Any]:
    await require_companies(session, [slug], merged=False)
    return {"company": slug, "phases": await company_phases(session, slug, utc(as_of))}


async def event_detail(
    session: AsyncSession, ev_id: uuid.UUID, as_of: datetime | None
) -> dict[str, Any]:
    doc = await repository.event_at(session, ev_id, utc(as_of))
    if doc is None:
        detail = "no such event" if as_of is None else "the event was not recorded by as_of"
        raise NotFound(detail, field="event_id")
    doc["links"] = await repository.links(session, ev_id)
    doc["duplicates"] = await repository.duplicates(session, ev_id)
    return doc


async def event_history(session: AsyncSession, ev_id: uuid.UUID) -> dict[str, Any]:
    versions = await repository.history(session, ev_id)
    if not versions:
        raise NotFound("no such event", field="event_id")
    return {"id": str(ev_id), "versions": versions}


async def split_event(
    sessions: async_sessionmaker[AsyncSession], client: aioredis.Redis, ev_id: uuid.UUID
) -> dict[str, Any]:
    """Undo a wrong merge: the merged report named, or every report merged into the event named,
    becomes an event of its own again, as new versions; subscribers are told."""
    try:
        async with sessions() as session, session.begin():
            # The timeline's engine reads in autocommit; a split writes, and must hold its company
            # lock and rows until it commits, or roll back whole: one real transaction.
            await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
            result = await session.run_sync(lambda s: split.split(s, ev_id))
    except LookupError as exc:
        raise NotFound("no such event", field="event_id") from exc
    except split.NothingToSplit as exc:
        raise Conflict(str(exc), field="event_id") from exc
    # Committed. The change feed (pages, streams) and fan-out are told now; should Redis be away,
    # the outbox rows are written and the sweeper announces them.
    try:
        pipe = client.pipeline(transaction=False)
        for entry in result.feed:
            fields: dict[Any, Any] = entry  # redis-py's field type is invariant in its keys
            pipe.xadd(TIMELINE_STREAM, fields, maxlen=TIMELINE_STREAM_MAXLEN, approximate=True)
        await pipe.execute()
        await anyio.to_thread.run_sync(_send_fanout, result.outbox_ids)
    except (RedisError, OSError, KombuError) as exc:
        log.warning("split %s committed; the outbox sweeper will announce it (%s)", ev_id, exc)
    return {"event_id": result.event_id, "split_off": result.split_off}


def _send_fanout(outbox_ids: list[int]) -> None:
    celery_app.send_task("notify.fanout", args=[outbox_ids], queue=NOTIFY_QUEUE)


def stream_filter(
    companies: str | None,
    category: list[str] | None,
    kind: list[str] | None,
    phase: str | None,
    entity: str | None,
    min_importance: int | None,
    include_duplicates: bool,
) -> stream.StreamFilter:
    """The live stream's filter, checked."""
    kinds = [k for part in kind or [] for k in part.split(",") if k]
    for k in kinds:
        if k not in stream.KINDS:
            raise InvalidInput(
                f"unknown kind '{k}'; one of {', '.join(sorted(stream.KINDS))}", field="kind"
            )
    return stream.StreamFilter(
        companies=tuple(slug_list(companies or "")),
        categories=frozenset(categories(category) or ()),
        kinds=frozenset(kinds),
        phase=phase,
        entity=entity,
        min_importance=min_importance,
        include_duplicates=include_duplicates,
    )
