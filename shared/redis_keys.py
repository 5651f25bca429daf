"""Redis key and stream names: the one place that says what lives where in Redis."""

from __future__ import annotations

INGEST_STREAM = "pw:ingest"  # the durable ingest log (XADD by ingest, XREADGROUP by the relay)
RELAY_GROUP = "relay"
TIMELINE_STREAM = "pw:timeline"  # change feed (XADD after commit, read by the SSE stream)
TIMELINE_STREAM_MAXLEN = 100_000
API_KEYS = "pw:apikeys"  # hash: sha256(key) -> {"id", "scopes", "name"} mirror of the table
# Incremented whenever a key leaves the mirror (revoked, mirror rebuilt): in-process caches of
# principals compare it on every write, so a revocation takes effect on the next request.
API_KEYS_GENERATION = "pw:apikeys:gen"


def status_key(event_id: str) -> str:
    """Hash with the event's processing state; its existence is the ingest de-duplication."""
    return f"pw:status:{event_id}"


def rate_key(key_id: str) -> str:
    return f"pw:rl:{key_id}"


# The Celery queues (kombu's Redis transport keeps each as a list of that name).
ENRICH_QUEUE = "enrich"
NOTIFY_QUEUE = "notify"

# Workers (shared/workers.py): who is alive, and which Celery message each one holds.
WORKERS = "pw:workers"  # hash: worker id -> JSON {name, host, pid, queues, started_at, beat_at}
HELD_MESSAGES = "pw:celery:held"  # hash: kombu delivery tag -> id of the worker holding it
# kombu's Redis transport: messages delivered and not yet acknowledged (hash: tag -> message)
# and when each was delivered (sorted set: tag -> time).
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"


def worker_key(wid: str) -> str:
    """Exists while the worker `wid` beats (it expires after `worker_dead_after_seconds`)."""
    return f"pw:worker:{wid}"


# Who owns each CloudEvents `source` (hash: source -> id of the API key that first posted under
# it), set by the ingest publish scripts in the same step as the XADD; another key's post under
# an owned source is refused. Kept as long as Redis' AOF keeps it: ownership never expires.
SOURCE_OWNERS = "pw:sources"
