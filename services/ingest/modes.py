"""CloudEvents HTTP content modes -> validated envelopes, or per-event rejections.

Pure functions of (headers, body, posting key): structured (`application/cloudevents+json`),
binary (`ce-*` headers, body = data), batch (`application/cloudevents-batch+json`) and plain
`application/json` of the StrategyEvent alone. Every rejection names the field and the reason;
an event under a source pivotwatch reserves (`urn:pivotwatch:`) other than the posting key's own
is refused.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from pydantic import ValidationError

from shared.errors import (
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedMediaType,
    from_validation_error,
)
from shared.events import CONTEXT_ATTRIBUTES, EVENT_TYPE, CloudEvent, event_uuid

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")  # CloudEvents 1.0: lowercase a-z0-9, <= 20
NUL_REASON = "NUL characters (\\u0000) are not accepted in text"
# Sources pivotwatch itself names (`key_source`, and the article route's): no post may claim one
# but the key the name carries, so nobody can write into another key's namespace by naming it.
RESERVED_PREFIX = "urn:pivotwatch:"


@dataclass(frozen=True, slots=True)
class Accepted:
    index: int
    event: CloudEvent
    encoded: bytes  # the envelope as it goes onto the stream


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    error: InvalidInput | PayloadTooLarge | Forbidden
    # pivotwatch's id when the event named its source and id, so the status endpoint can answer.
    event_id: str | None = None
    source: str = ""  # the source it named, when `event_id` is known


def _known(index: int, error: InvalidInput | PayloadTooLarge, obj: Any) -> Rejected:
    """A rejection, with the event's id and source when it named them."""
    if isinstance(obj, dict):
        source, ce_id = obj.get("source"), obj.get("id")
        if isinstance(source, str) and isinstance(ce_id, str) and source.strip() and ce_id.strip():
            source = source.strip()
            return Rejected(index, error, str(event_uuid(source, ce_id.strip())), source)
    return Rejected(index, error)


def key_source(key_id: str) -> str:
    """The source of a key's plain-JSON events: pivotwatch names it after the key."""
    return f"{RESERVED_PREFIX}key:{key_id}"


def reserved_refusal(source: str, key_id: str, prefix: str = "") -> Forbidden | None:
    """Why `key_id` may not post under `source`, when it is one pivotwatch reserves (any key,
    admin included: a key's own namespace is its own); None when it may."""
    if not source.lower().startswith(RESERVED_PREFIX) or source == key_source(key_id):
        return None
    return Forbidden(
        f"sources under '{RESERVED_PREFIX}' are reserved: a key may use only its own, "
        f"'{key_source(key_id)}'",
        field=f"{prefix}.source" if prefix else "source",
    )


Parsed = Accepted | Rejected


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", field="body") from exc


def _validate(index: int, obj: Any, key_id: str, max_event_bytes: int, prefix: str = "") -> Parsed:
    if not isinstance(obj, dict):
        field = prefix or "body"
        return Rejected(index, InvalidInput("an event must be a JSON object", field=field))
    # Size first: an oversized event is refused for its size, before any work is spent on it.
    size = len(orjson.dumps(obj))
    if size > max_event_bytes:
        err = PayloadTooLarge(
            f"event is {size} bytes; the limit is {max_event_bytes}", field=prefix or "body"
        )
        return _known(index, err, obj)
    bad_name = _bad_extension(obj) or nul_field(obj)
    if bad_name is not None:
        return _known(index, bad_name.with_prefix(prefix), obj)
    try:
        event = CloudEvent.model_validate(obj)
    except ValidationError as exc:
        return _known(index, from_validation_error(exc, prefix), obj)
    # Refused without its id: no status is recorded under a source that is not the key's.
    reserved = reserved_refusal(event.source, key_id, prefix)
    if reserved is not None:
        return Rejected(index, reserved)
    encoded = orjson.dumps(event.model_dump(mode="json", exclude_none=True))
    return Accepted(index, event, encoded)


@dataclass(frozen=True, slots=True)
class _FieldProblem:
    field: str
    reason: str

    def with_prefix(self, prefix: str) -> InvalidInput:
        return InvalidInput(self.reason, field=f"{prefix}.{self.field}" if prefix else self.field)


def _bad_extension(obj: dict[str, Any]) -> _FieldProblem | None:
    """The first attribute that is neither a context attribute nor a valid extension name."""
    for name in obj:
        if name in CONTEXT_ATTRIBUTES or name == "data":
            continue
        if name == "data_base64":
            return _FieldProblem(name, "data_base64 is not accepted: data must be a JSON object")
        if not EXTENSION_NAME.match(name):
            return _FieldProblem(
                name,
                f"'{name}' is not a valid extension attribute name: lowercase letters and "
                "digits only, at most 20 characters",
            )
    return None


def nul_field(value: Any, path: str = "") -> _FieldProblem | None:
    """The first string (or key) holding a NUL character. PostgreSQL cannot store one in text or
    JSONB, so such an event is refused here with the field named, rather than accepted and then
    failing in the worker; silently dropping the character would change what the reporter said."""
    if isinstance(value, str):
        return _FieldProblem(path or "body", NUL_REASON) if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return _FieldProblem(inner, NUL_REASON)
            found = nul_field(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_field(item, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
    return None


def plain_envelope(data: Any, principal_id: str, idempotency_key: str | None) -> dict[str, Any]:
    """A plain StrategyEvent gets an envelope: source is the key, id the Idempotency-Key."""
    return {
        "specversion": "1.0",
        "id": idempotency_key or str(uuid.uuid4()),
        "source": key_source(principal_id),
        "type": EVENT_TYPE,
        "datacontenttype": JSON,
        "data": data,
    }


def binary_envelope(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    envelope: dict[str, Any] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname.startswith("ce-") and len(lname) > 3:
            envelope[lname[3:]] = unquote(value)
    envelope["datacontenttype"] = headers.get("content-type") or JSON
    envelope["data"] = _loads(body)
    return envelope


def parse_single(
    headers: Mapping[str, str], body: bytes, principal_id: str, max_event_bytes: int
) -> Parsed:
    """`POST /v1/events`: one event in structured, binary or plain mode."""
    mtype = media_type(headers)
    if mtype == STRUCTURED:
        return _validate(0, _loads(body), principal_id, max_event_bytes)
    if mtype == BATCH:
        raise UnsupportedMediaType(f"'{BATCH}' goes to POST /v1/events/batch", field="content-type")
    if "ce-specversion" in {k.lower() for k in headers}:
        # No Content-Type means no datacontenttype: JSON data is the CloudEvents default.
        if mtype not in (JSON, "text/json", "") and not mtype.endswith("+json"):
            raise UnsupportedMediaType(
                f"binary-mode data must be JSON, not '{mtype}'", field="content-type"
            )
        return _validate(0, binary_envelope(headers, body), principal_id, max_event_bytes)
    if mtype in (JSON, ""):
        if mtype == "" and not body:
            raise InvalidInput("empty body", field="body")
        data = _loads(body)
        key = headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 200:
            raise InvalidInput("Idempotency-Key must be 1-200 characters", field="idempotency-key")
        return _validate(0, plain_envelope(data, principal_id, key), principal_id, max_event_bytes)
    raise UnsupportedMediaType(
        f"unsupported content type '{mtype}'; use {STRUCTURED}, {JSON} or binary mode",
        field="content-type",
    )


def parse_batch(
    headers: Mapping[str, str],
    body: bytes,
    principal_id: str,
    max_event_bytes: int,
    max_batch_events: int,
) -> list[Parsed]:
    """`POST /v1/events/batch`: a CloudEvents batch, or a JSON array of plain events."""
    mtype = media_type(headers)
    if mtype not in (BATCH, JSON):
        raise UnsupportedMediaType(
            f"unsupported content type '{mtype}'; use {BATCH} or {JSON}", field="content-type"
        )
    items = _loads(body)
    if not isinstance(items, list):
        raise InvalidInput("a batch is a JSON array of events", field="body")
    if len(items) > max_batch_events:
        raise PayloadTooLarge(
            f"batch has {len(items)} events; the limit is {max_batch_events}", field="body"
        )
    out: list[Parsed] = []
    for i, item in enumerate(items):
        if mtype == JSON:
            if not isinstance(item, dict):
                out.append(
                    Rejected(i, InvalidInput("an event must be a JSON object", field=f"{i}"))
                )
                continue
            item = plain_envelope(item, principal_id, None)
        out.append(_validate(i, item, principal_id, max_event_bytes, prefix=str(i)))
    return out
