"""When a strategy event happened, at the precision it is known.

`occurred` is an ISO 8601 date at its real precision (`2015`, `2023-11`, `2019-03-11`) or an EDTF
level-1 form: approximate `~`, uncertain `?`, both `%`, and intervals `2024-12/2025-01` (open ends
`..`). It is never padded to a fake day: the parsed value keeps the text, the precision and the
inclusive span [start, end] that the text covers, which is what ordering and filtering use.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Precision(StrEnum):
    YEAR = "year"
    MONTH = "month"
    DAY = "day"


# ASCII digits only (`\d` also matches Arabic-Indic and full-width digits, which int() reads) and
# a full match (`$` also matches before a trailing newline, which an interval part can carry).
_PART = re.compile(r"(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2}))?)?(?P<q>[~?%])?")


# English names, spelled out rather than taken from `calendar`, whose names follow the locale.
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class DateParseError(ValueError):
    """The text is not a date pivotwatch understands; the message says why."""


@dataclass(frozen=True, slots=True)
class OccurredDate:
    text: str
    precision: Precision
    start: date
    end: date
    approximate: bool = False
    uncertain: bool = False
    interval: bool = False

    @property
    def sort_key(self) -> tuple[date, date]:
        return (self.start, self.end)

    def parts(self) -> dict[str, int]:
        """Year, month and day as far as the precision goes (TimelineJS, iCalendar)."""
        out = {"year": self.start.year}
        if self.precision in (Precision.MONTH, Precision.DAY):
            out["month"] = self.start.month
        if self.precision is Precision.DAY:
            out["day"] = self.start.day
        return out


def _parse_part(text: str) -> tuple[date, date, Precision, str | None]:
    m = _PART.fullmatch(text)
    if not m:
        raise DateParseError(f"'{text}' is not YYYY, YYYY-MM or YYYY-MM-DD (EDTF ~ ? % allowed)")
    year = int(m["y"])
    if year < 1:
        raise DateParseError("year 0000 is not a valid year")
    qualifier = m["q"]
    if m["m"] is None:
        return date(year, 1, 1), date(year, 12, 31), Precision.YEAR, qualifier
    month = int(m["m"])
    if not 1 <= month <= 12:
        raise DateParseError(f"month {month:02d} is out of range 01-12")
    last = calendar.monthrange(year, month)[1]
    if m["d"] is None:
        return date(year, month, 1), date(year, month, last), Precision.MONTH, qualifier
    day = int(m["d"])
    if not 1 <= day <= last:
        raise DateParseError(f"day {day:02d} is out of range for {year:04d}-{month:02d}")
    d = date(year, month, day)
    return d, d, Precision.DAY, qualifier


def parse_occurred(text: str) -> OccurredDate:
    """Parse an `occurred` value, keeping its precision; raises DateParseError with the reason."""
    raw = text.strip()
    if not raw:
        raise DateParseError("empty date")
    if "/" in raw:
        left, _, right = raw.partition("/")
        if "/" in right:
            raise DateParseError("an interval has exactly one '/'")
        if left in ("", "..") and right in ("", ".."):
            raise DateParseError("an interval needs at least one known end")
        lo = _parse_part(left) if left not in ("", "..") else None
        hi = _parse_part(right) if right not in ("", "..") else None
        start = lo[0] if lo else date.min
        end = hi[1] if hi else date.max
        if start > end:
            raise DateParseError(f"interval starts after it ends ('{raw}')")
        precisions = [p[2] for p in (lo, hi) if p]
        coarsest = min(precisions, key=lambda p: list(Precision).index(p))
        qualifiers = {p[3] for p in (lo, hi) if p and p[3]}
        return OccurredDate(
            text=raw,
            precision=coarsest,
            start=start,
            end=end,
            approximate=bool(qualifiers & {"~", "%"}),
            uncertain=bool(qualifiers & {"?", "%"}),
            interval=True,
        )
    start, end, precision, q = _parse_part(raw)
    return OccurredDate(
        text=raw,
        precision=precision,
        start=start,
        end=end,
        approximate=q in ("~", "%"),
        uncertain=q in ("?", "%"),
    )


def from_day(d: date, precision: Precision) -> OccurredDate:
    """The OccurredDate for `d` truncated to `precision` (used by article extraction)."""
    if precision is Precision.DAY:
        return parse_occurred(d.isoformat())
    if precision is Precision.MONTH:
        return parse_occurred(f"{d.year:04d}-{d.month:02d}")
    return parse_occurred(f"{d.year:04d}")
