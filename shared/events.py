"""The event contract: a StrategyEvent carried as the `data` of a CloudEvents 1.0 envelope.

Every service imports these models; ingest validates against them, the worker reads them back from
the stream, the timeline and notify services serialise what was stored. Field errors name the field.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.dates import DateParseError, parse_occurred

EVENT_TYPE = "dev.pivotwatch.strategy.reported"
ARTICLE_TYPE = "dev.pivotwatch.article.reported"
# Deterministic ids: the same source+id always maps to the same pivotwatch id, in every process.
_ID_NAMESPACE = uuid.UUID("6f1f8a52-3c2b-4f57-9a43-1d2b7c0f5e11")


class Category(StrEnum):
    GOVERNANCE = "governance"
    FUNDING = "funding"
    LICENSING = "licensing"
    PRODUCT = "product"
    COMPETITION = "competition"
    REGULATION = "regulation"
    LEGAL = "legal"
    LEADERSHIP = "leadership"


CATEGORY_LABELS: dict[Category, str] = {
    Category.GOVERNANCE: "governance",
    Category.FUNDING: "funding",
    Category.LICENSING: "licensing/open-weights",
    Category.PRODUCT: "product",
    Category.COMPETITION: "competition",
    Category.REGULATION: "regulation/security",
    Category.LEGAL: "legal",
    Category.LEADERSHIP: "leadership",
}

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyUrl
    publisher: str | None = Field(default=None, max_length=200)
    published_at: datetime | None = None

    @field_validator("url")
    @classmethod
    def _http_only(cls, v: AnyUrl) -> AnyUrl:
        if v.scheme not in ("http", "https"):
            raise ValueError("source url must be http or https")
        return v


class StrategyEvent(BaseModel):
    """What a reporter says happened."""

    model_config = ConfigDict(extra="forbid")

    company: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    occurred: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=40)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    summary: str = Field(default="", max_length=5000)
    body: str = Field(default="", max_length=60000)
    sources: list[Source] = Field(default_factory=list, max_length=50)
    tags: list[Annotated[str, StringConstraints(max_length=100)]] = Field(
        default_factory=list, max_length=50
    )
    actors: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=list, max_length=50
    )
    publish: bool = True

    @field_validator("occurred")
    @classmethod
    def _occurred_is_a_date(cls, v: str) -> str:
        try:
            parse_occurred(v)
        except DateParseError as exc:
            raise ValueError(str(exc)) from exc
        return v

    @model_validator(mode="after")
    def _published_needs_source(self) -> StrategyEvent:
        if self.publish and not self.sources:
            raise ValueError("sources: at least one source is required for a published event")
        return self


_EXT_NAME = re.compile(r"^[a-z0-9]{1,20}$")
# Attributes the envelope models itself; anything else in a structured event is an extension.
CONTEXT_ATTRIBUTES = frozenset(
    {"id", "source", "specversion", "type", "time", "subject", "datacontenttype", "dataschema"}
)


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope whose data is a StrategyEvent."""

    model_config = ConfigDict(extra="allow")

    id: NonEmpty = Field(max_length=200)
    source: NonEmpty = Field(max_length=500)
    specversion: str
    type: NonEmpty = Field(max_length=200)
    time: datetime | None = None
    subject: str | None = Field(default=None, max_length=200)
    datacontenttype: str | None = None
    dataschema: AnyUrl | None = None
    data: StrategyEvent

    @field_validator("specversion")
    @classmethod
    def _v1(cls, v: str) -> str:
        if v != "1.0":
            raise ValueError("specversion must be '1.0'")
        return v

    @field_validator("time")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("time must carry a timezone (RFC 3339)")
        return v

    @model_validator(mode="after")
    def _extension_names(self) -> CloudEvent:
        for name in self.model_extra or {}:
            if name == "data_base64":
                raise ValueError("data_base64 is not accepted: data must be a JSON StrategyEvent")
            if not _EXT_NAME.match(name):
                raise ValueError(
                    f"extension attribute '{name}': names are lowercase a-z0-9, at most 20 chars"
                )
        return self

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def event_id(self) -> uuid.UUID:
        return event_uuid(self.source, self.id)


def event_uuid(source: str, ce_id: str) -> uuid.UUID:
    """pivotwatch's id for the event keyed by CloudEvents source + id."""
    return uuid.uuid5(_ID_NAMESPACE, f"{source}\x1f{ce_id}")


class Article(BaseModel):
    """A news text with its publication date, queued for event extraction."""

    model_config = ConfigDict(extra="forbid")

    url: AnyUrl
    publisher: str | None = Field(default=None, max_length=200)
    published: datetime | None = None
    published_date: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    title: str = Field(default="", max_length=500)
    text: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    company: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _needs_a_date(self) -> Article:
        if self.published is None and self.published_date is None:
            raise ValueError("published: the publication date is required to resolve dates")
        return self

    def day(self) -> str:
        if self.published_date:
            return self.published_date
        assert self.published is not None
        return self.published.date().isoformat()
