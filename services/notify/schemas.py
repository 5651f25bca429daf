"""Request and response bodies of the notify API, and the views of the rows they show: a
subscription, and a delivery with its derived state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.notify.states import State, state_of
from shared.db import Delivery, Subscription
from shared.events import Category

EventType = Literal["event.created", "event.updated", "phase.changed"]
ALL_EVENT_TYPES: list[str] = ["event.created", "event.updated", "phase.changed"]


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text or JSONB: refuse it here, naming the field, rather
    # than fail the insert.
    if "\x00" in value:
        raise ValueError("NUL characters (\\u0000) are not accepted in text")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def _all_types() -> list[EventType]:
    return ["event.created", "event.updated", "phase.changed"]


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    companies: list[Text] = Field(default_factory=list, max_length=100)
    categories: list[Category] = Field(default_factory=list)
    phases: list[Text] = Field(default_factory=list, max_length=50)
    min_importance: int | None = Field(default=None, ge=0, le=100)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text = Field(min_length=8, max_length=2000)
    description: Text = Field(default="", max_length=500)
    event_types: list[EventType] = Field(default_factory=lambda: _all_types())
    filter: Filter = Field(default_factory=Filter)
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=10000)
    fifo: bool = False


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text | None = Field(default=None, min_length=8, max_length=2000)
    description: Text | None = Field(default=None, max_length=500)
    event_types: list[EventType] | None = None
    filter: Filter | None = None
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=10000)
    fifo: bool | None = None

    # A field left out is kept. Only the rate limit can be removed with null; the others have
    # no "none" to go back to, so a null there is a mistake worth naming.
    @field_validator("url", "description", "event_types", "filter", "fifo", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null; leave the field out to keep it")
        return value


class SubscriptionOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    filter: Filter
    enabled: bool
    disabled_reason: str | None
    rate_limit_per_second: float | None
    fifo: bool
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown once, now; store it to verify signatures.")


class DeliveryOut(BaseModel):
    id: str
    subscription_id: str
    event_id: str | None
    event_type: str
    webhook_id: str
    sequence: int
    status: str = Field(description="As stored: pending, succeeded or failed.")
    state: State = Field(
        description="processing (a worker holds it now), waiting (no attempt yet), retrying "
        "(an attempt failed; tried again at next_attempt_at), succeeded or failed."
    )
    processing_since: datetime | None = Field(
        description="When the worker that holds it claimed it; set only when processing."
    )
    attempts: int
    next_attempt_at: datetime | None = Field(
        description="waiting or retrying: when it is due; processing: when the worker's lease "
        "runs out (a delivery still held then is tried again)."
    )
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    duration_ms: float
    response_excerpt: str
    error: str | None


class DeliveryDetail(DeliveryOut):
    attempts_log: list[AttemptOut]


class RotateSecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        le=30 * 24 * 3600,
        description="How long the previous secrets keep signing alongside the new one.",
    )


class RotatedSecret(BaseModel):
    secret: str = Field(description="The new secret, shown once, now.")
    previous_secrets_expire_at: datetime | None
    signing_secrets: int = Field(description="How many secrets sign each delivery right now.")


class EnableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replay: bool = Field(
        default=False,
        description="Also send what the endpoint missed: deliveries that failed since its "
        "failures began, and the changes made while it was disabled.",
    )


class EnabledOut(SubscriptionOut):
    replayed: int


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime
    until: AwareDatetime | None = None
    only_failed: bool = False


class ReplayOut(BaseModel):
    queued: int


class EndpointRecordOut(BaseModel):
    kind: str
    detail: str
    created_at: datetime


def subscription_view(sub: Subscription) -> dict[str, Any]:
    """A subscription as the API returns it (never its secrets)."""
    return {
        "id": str(sub.id),
        "url": sub.url,
        "description": sub.description,
        "event_types": sub.event_types,
        "filter": Filter.model_validate(sub.filter),
        "enabled": sub.enabled,
        "disabled_reason": sub.disabled_reason,
        "rate_limit_per_second": sub.rate_limit_per_second,
        "fifo": sub.fifo,
        "created_at": sub.created_at,
    }


def delivery_view(d: Delivery, now: datetime | None = None) -> dict[str, Any]:
    """A delivery as the API returns it; its `state` as of `now` (a listing passes the moment
    it filtered on, so a row and the filter that selected it agree)."""
    state = state_of(d, now or datetime.now(UTC))
    return {
        "id": str(d.id),
        "subscription_id": str(d.subscription_id),
        "event_id": str(d.event_id) if d.event_id else None,
        "event_type": d.event_type,
        "webhook_id": d.webhook_id,
        "sequence": d.sequence,
        "status": d.status,
        "state": state,
        "processing_since": d.claimed_at if state == "processing" else None,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
    }
