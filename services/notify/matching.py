"""Does a subscription's filter take this change? Pure: filter + event document + kind."""

from __future__ import annotations

from typing import Any


def matches(event_types: list[str], flt: dict[str, Any], kind: str, doc: dict[str, Any]) -> bool:
    if event_types and kind not in event_types:
        return False
    companies = flt.get("companies") or []
    if (
        companies
        and doc.get("company") not in companies
        and not (set(companies) & set(doc.get("companies") or []))
    ):
        return False
    categories = flt.get("categories") or []
    if categories and doc.get("category") not in categories:
        return False
    phases = flt.get("phases") or []
    if phases and doc.get("phase") not in phases and doc.get("transition_to") not in phases:
        return False
    minimum = flt.get("min_importance")
    return not (minimum is not None and int(doc.get("importance") or 0) < int(minimum))
