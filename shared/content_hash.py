"""The content hash that tells a duplicate from a correction: a report posted again under the same
key with the same content (data and reported time) is a duplicate, with other content a correction.

Ingest and the worker compute it alike; stored rows keep it (`events.raw.hash`), so its bytes
must never change.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson


def content_hash(data: Any, time: datetime | None) -> str:
    """SHA-256 (hex) of `{"data", "time"}` as sorted-key JSON; `data` as JSON-ready values."""
    raw = {"data": data, "time": time.isoformat() if time else None}
    return hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()
