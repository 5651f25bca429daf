"""The one settings object (environment prefix `PIVOTWATCH_`), built once and passed in.

Empty `database_url` / `redis_url` mean "start the embedded servers" (`pivotwatch up`, tests); a
service process is always started with both set. Outside development, insecure choices are refused.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIVOTWATCH_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = ""
    redis_url: str = ""
    home: Path = Path(".pivotwatch")

    host: str = "127.0.0.1"
    ingest_port: int = 8001
    timeline_port: int = 8002
    notify_port: int = 8003
    public_url: str = ""
    embedded_postgres_port: int = 55432
    embedded_redis_port: int = 56379

    log_level: str = "INFO"
    log_json: bool = True

    # Ingest limits (CloudEvents consumers accept at least 64 KiB per event).
    max_event_bytes: int = 64 * 1024
    max_request_bytes: int = 4 * 1024 * 1024
    max_batch_events: int = 1000
    rate_limit_per_second: float = 2000.0
    rate_limit_burst: int = 10000
    status_ttl_seconds: int = 7 * 24 * 3600
    # How long ingest keeps a looked-up API key in memory (0: never). A revocation still takes
    # effect on the next request: every write checks the key mirror's generation atomically.
    auth_cache_seconds: float = 30.0
    # Entries the ingest log may hold (waiting for the relay, or read and not yet trimmed): past
    # it, ingest writes nothing and answers 503 with Retry-After, before Redis runs out of memory
    # (it evicts nothing) and stops the whole pipeline. A duplicate post is still answered.
    ingest_stream_maxlen: int = Field(default=1_000_000, ge=1)

    # Relay and worker.
    relay_chunk_max: int = 500
    relay_block_ms: int = 200
    # Entries a dead relay read and never acknowledged are handed to another after this long
    # (a live relay acknowledges within milliseconds of its read).
    relay_claim_idle_ms: int = 15_000
    # Chunks the relay lets wait on the enrich queue. Past it, new entries wait on the ingest log
    # and go out together, as one larger chunk, when a worker takes the next: under a flood the
    # workers get full chunks instead of a queue of one-event tasks.
    relay_queue_max: int = Field(default=1, ge=1)
    # kombu's last resort for a message nobody restored (shared/workers.py does, within
    # worker_dead_after_seconds of a worker's death): tasks are bounded well under it.
    visibility_timeout: int = 3600
    # How often a worker looks for messages left unacknowledged past the visibility timeout.
    unacked_restore_interval: int = 10
    # Each worker beats this often; one that has not beaten for `worker_dead_after_seconds` is
    # dead, and the messages it held go back to their queues.
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    worker_dead_after_seconds: float = Field(default=20.0, gt=0)
    worker_concurrency: int = 1
    outbox_sweep_after_seconds: float = 30.0
    # An entry that makes its chunk fail is retried alone this many times, then dead-lettered.
    enrich_max_attempts: int = 3
    enrich_retry_delay_seconds: float = 2.0
    # CPU one entry's decoding and enrichment may take in a worker (0: no limit); past it the
    # entry is dead-lettered with the reason and the rest of its chunk goes on. A 200,000-
    # character adversarial article takes under half a second here.
    enrich_entry_cpu_seconds: float = Field(default=5.0, ge=0)

    # Webhooks.
    webhook_timeout_seconds: float = 15.0
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    retry_jitter: float = 0.2
    dispatch_interval_seconds: float = 1.0
    allow_private_webhook_targets: bool = False
    # Networks allowed as webhook targets although not public (`pivotwatch up`: loopback only).
    webhook_allow_networks: list[str] = Field(default_factory=list)
    disable_after_failing_seconds: float = 5 * 24 * 3600
    # A webhook host name that passed the SSRF check keeps its vetted address this long (sends
    # still connect to that address; a refusal is never kept). 0: resolve at every attempt.
    webhook_vet_cache_seconds: float = 5.0
    # A claimed delivery is leased for the timeout plus this; a worker killed mid-send leaves the
    # lease to expire and the delivery is sent again (same webhook-id).
    webhook_lease_grace_seconds: float = 30.0
    # Attempts one endpoint, and all endpoints of one key, may have in flight in a batch (of the
    # 32 a notify process sends at once): a slow tenant cannot hold every slot.
    webhook_endpoint_concurrency: int = Field(default=4, ge=1)
    webhook_owner_concurrency: int = Field(default=16, ge=1)
    # Subscriptions one API key may hold (an admin key is not limited): each can hold send
    # slots for the whole timeout, so one tenant must not be able to fill them all.
    max_subscriptions_per_key: int = Field(default=100, ge=1)
    # Processes without an HTTP API serve /metrics on these ports when set (0: not served). A
    # Celery worker serves the sum of its pool processes (shared/procmetrics.py: it needs
    # PROMETHEUS_MULTIPROC_DIR in its environment), on the port of the queue it consumes.
    relay_metrics_port: int = 0
    enrich_metrics_port: int = 0
    notify_metrics_port: int = 0

    # Tracing (shared/tracing.py, the `otel` extra): every process exports its spans over
    # OTLP/HTTP to this collector URL (e.g. http://otel-collector:4318). Empty: off.
    otel_endpoint: str = ""
    # FastAPI's native OpenTelemetry instrumentation alone (spans, metrics, logs), for a provider
    # configured outside pivotwatch (opentelemetry-instrument, FASTAPI_OTEL_AUTO_CONFIGURE).
    opentelemetry: bool = False

    # Read side.
    require_read_key: bool = False
    # Rendered timeline pages kept per timeline process while the change feed shows no change
    # (services/timeline/cache.py); 0 turns the cache off.
    timeline_cache_entries: int = Field(default=256, ge=0)
    timeline_cache_seconds: float = Field(default=30.0, gt=0)
    # Live stream (SSE): a comment line this often keeps proxies from closing an idle connection.
    stream_heartbeat_seconds: float = 15.0
    # A stream ends after this long (EventSource reconnects with Last-Event-ID and loses nothing),
    # so long-lived connections get spread again over the processes behind a balancer.
    stream_max_seconds: float = Field(default=3600.0, gt=0)
    # Live streams one timeline process holds open, and one client address may hold: past
    # either, 429 with Retry-After (each stream keeps a Redis connection of its own pool).
    stream_max_connections: int = Field(default=500, ge=1)
    stream_max_per_client: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _refuse_insecure_outside_development(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            if not self.database_url or not self.redis_url:
                raise ValueError(
                    "production needs PIVOTWATCH_DATABASE_URL and PIVOTWATCH_REDIS_URL; "
                    "embedded servers are for development"
                )
            if self.allow_private_webhook_targets:
                raise ValueError(
                    "PIVOTWATCH_ALLOW_PRIVATE_WEBHOOK_TARGETS must be false in production (SSRF)"
                )
            import ipaddress

            # An allowed network must lie wholly in non-public space and be narrower than /8:
            # "0.0.0.0/0" or "10.0.0.0/8" would open the SSRF guard to everything behind it.
            private_space = [
                ipaddress.ip_network(n)
                for n in (
                    "10.0.0.0/8",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                    "127.0.0.0/8",
                    "169.254.0.0/16",
                    "100.64.0.0/10",
                    "198.18.0.0/15",
                    "192.0.0.0/24",
                    "::1/128",
                    "fc00::/7",
                    "fe80::/10",
                    "fec0::/10",
                )
            ]
            for entry in self.webhook_allow_networks:
                try:
                    net = ipaddress.ip_network(entry, strict=False)
                except ValueError as exc:
                    raise ValueError(
                        f"PIVOTWATCH_WEBHOOK_ALLOW_NETWORKS: {entry!r} is not a network"
                    ) from exc
                inside = any(
                    net.version == space.version and net.subnet_of(space)  # type: ignore[arg-type]
                    for space in private_space
                )
                if net.prefixlen <= 8 or not inside:
                    raise ValueError(
                        f"PIVOTWATCH_WEBHOOK_ALLOW_NETWORKS: {entry!r} is too wide or holds "
                        "public addresses; production allows only private networks of /9 or "
                        "narrower (SSRF)"
                    )
            for name, url in (("DATABASE_URL", self.database_url), ("REDIS_URL", self.redis_url)):
                reason = weak_credentials(url)
                if reason:
                    raise ValueError(f"PIVOTWATCH_{name} {reason}; production needs a real one")
        return self

    @property
    def sync_database_url(self) -> str:
        return _driver(self.database_url)

    @property
    def async_database_url(self) -> str:
        return _driver(self.database_url)


# Passwords shipped in examples, images and earlier versions of this project's compose file.
DEFAULT_PASSWORDS = frozenset({"pivotwatch", "postgres", "password", "redis", "changeme", "secret"})


def weak_credentials(url: str) -> str | None:
    """Why a server URL's credentials are not fit for production, or None. Pure."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("unix", "redis+socket") or parts.hostname in (None, ""):
        return None  # a Unix socket: the file's permissions guard it
    password = unquote(parts.password or "")
    if not password:
        return "has no password"
    if password.lower() in DEFAULT_PASSWORDS:
        return "has a well-known default password"
    return None


def _driver(url: str) -> str:
    """Use psycopg 3 (sync and async) whatever spelling of postgres URL was given."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
