"""The `pivotwatch` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from shared.settings import Settings, get_settings


def load_settings() -> Settings:
    """Settings from the environment; URLs of a running `pivotwatch up` fill in what is unset."""
    settings = get_settings()
    runtime = settings.home / "runtime.json"
    if (not settings.database_url or not settings.redis_url) and runtime.exists():
        urls = json.loads(runtime.read_text())
        settings = settings.model_copy(
            update={
                "database_url": settings.database_url or urls["database_url"],
                "redis_url": settings.redis_url or urls["redis_url"],
            }
        )
    return settings


def need_urls(settings: Settings) -> None:
    if not settings.database_url or not settings.redis_url:
        sys.exit(
            "pivotwatch: no database/Redis: start `pivotwatch up` first, or set "
            "PIVOTWATCH_DATABASE_URL and PIVOTWATCH_REDIS_URL"
        )


def cmd_up(args: argparse.Namespace) -> int:
    from pivotwatch.embedded import EmbeddedError
    from pivotwatch.supervisor import Stack, StartError
    from shared.waiting import DependencyNotReady, WaitAbandoned, wait_for_dependencies

    settings = get_settings()
    stack = Stack(settings, settings.home.resolve(), seed=not args.no_seed)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()
        stack.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.check_ports()
        stack.start_servers()
        # Servers that accept connections may still load their data (Redis's AOF) or recover.
        servers = Settings(database_url=stack.database_url, redis_url=stack.redis_url)
        wait_for_dependencies(servers, stack.say, stop=stack.stopping.is_set)
        from shared.migrate import upgrade

        upgrade(servers.sync_database_url)
        key = dev_key(stack.home, stack.database_url, stack.redis_url)
        stack.start_services()
        stack.wait_ready()
        print(f"development API key (every scope): {key}\n  saved in {stack.home / 'dev-api-key'}")
        if stack.seed:
            from pivotwatch.seed import load

            counts = load(stack.urls()["ingest"], key, progress=sys.stdout.isatty())
            print(f"seed timelines: {counts['accepted']} new, {counts['duplicate']} already there")
        urls = stack.urls()
        print("pivotwatch is up:")
        print(f"  ingest    {urls['ingest']}/docs")
        print(f"  timeline  {urls['timeline']}/v1/companies/openai/timeline")
        print(f"  notify    {urls['notify']}/docs")
        print("  Ctrl-C stops everything.", flush=True)
        supervisor = threading.Thread(target=stack.supervise, daemon=True)
        supervisor.start()
        stopping.wait()
    except WaitAbandoned:
        return 0  # Ctrl-C while a server was loading
    except (StartError, EmbeddedError, DependencyNotReady) as exc:
        print(f"pivotwatch: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        stack.stop()
        print("stopped.", flush=True)
    return 0


def dev_key(home: Path, database_url: str, redis_url: str) -> str:
    """Reuse the saved development key if it is still valid, otherwise make a new one."""
    from redis import Redis

    from pivotwatch.embedded import write_private
    from shared.auth import Scope, create_key, hash_key, sync_mirror
    from shared.db import ApiKey, make_engine, session_factory

    settings = Settings(database_url=database_url, redis_url=redis_url)
    engine = make_engine(settings, pool_size=1)
    client = Redis.from_url(redis_url)
    path = home / "dev-api-key"
    try:
        with session_factory(engine)() as session, session.begin():
            if path.exists():
                saved = path.read_text().strip()
                row = session.query(ApiKey).filter(ApiKey.key_hash == hash_key(saved)).first()
                if row is not None and row.revoked_at is None:
                    sync_mirror(session, client)
                    return saved
            new = create_key(session, client, "development", list(Scope))
            sync_mirror(session, client)
        write_private(path, new.secret + "\n")
        return new.secret
    finally:
        client.close()
        engine.dispose()


def cmd_migrate(_: argparse.Namespace) -> int:
    from shared.migrate import upgrade
    from shared.waiting import DependencyNotReady, wait_for_postgres

    settings = load_settings()
    need_urls(settings)
    try:
        wait_for_postgres(settings.database_url, lambda line: print(line, flush=True))
    except DependencyNotReady as exc:
        print(f"pivotwatch: {exc}", file=sys.stderr)
        return 1
    upgrade(settings.sync_database_url)
    print("database is at the latest schema")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shared import tracing
    from shared.logs import configure_logging
    from shared.waiting import DependencyNotReady, wait_for_dependencies

    settings = get_settings()
    configure_logging(args.service, settings.log_level, settings.log_json)
    log = logging.getLogger(f"pivotwatch.{args.service}")
    tracing.configure(args.service, settings)  # before the app: its request spans need it
    try:
        # Ingest needs only Redis: it accepts events while PostgreSQL recovers.
        wait_for_dependencies(settings, log.info, postgres=args.service != "ingest")
    except DependencyNotReady as exc:
        log.error("%s", exc)
        return 1
    port = {
        "ingest": settings.ingest_port,
        "timeline": settings.timeline_port,
        "notify": settings.notify_port,
    }[args.service]
    uvicorn.run(
        f"services.{args.service}.app:create_app",
        factory=True,
        host=settings.host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from pivotwatch.health import probe

    return 0 if probe(args.url) else 1


def cmd_alive(args: argparse.Namespace) -> int:
    from pivotwatch.health import heartbeat_fresh, pid_alive

    if args.pidfile:
        return 0 if pid_alive(Path(args.pidfile)) else 1
    if not args.path:
        sys.exit("pivotwatch: alive needs a heartbeat file or --pidfile")
    return 0 if heartbeat_fresh(Path(args.path), args.max_age) else 1


def cmd_relay(args: argparse.Namespace) -> int:
    from redis import Redis

    from services.enrich.relay import Relay, celery_publish
    from shared.celery_app import app
    from shared.logs import configure_logging
    from shared.waiting import DependencyNotReady, wait_for_redis

    settings = get_settings()
    configure_logging("relay", settings.log_level, settings.log_json)
    log = logging.getLogger("pivotwatch.relay")
    try:
        wait_for_redis(settings.redis_url, log.info)
    except DependencyNotReady as exc:
        log.error("%s", exc)
        return 1
    port = args.metrics_port or settings.relay_metrics_port
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=settings.host)
    from shared import tracing

    tracing.configure("relay", settings)
    client = Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    heartbeat = Path(args.heartbeat) if args.heartbeat else None
    Relay(client, settings, celery_publish(app), heartbeat=heartbeat).run(stop)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from redis import Redis

    from shared.auth import Scope, create_key, list_keys, revoke_key
    from shared.db import make_engine, session_factory

    settings = load_settings()
    need_urls(settings)
    engine = make_engine(settings, pool_size=1)
    client = Redis.from_url(settings.redis_url)
    try:
        with session_factory(engine)() as session, session.begin():
            if args.keys_cmd == "create":
                scopes = [Scope(s) for s in args.scope] or [Scope.EVENTS_WRITE]
                new = create_key(session, client, args.name, scopes)
                print(f"id      {new.id}\nprefix  {new.prefix}\nscopes  {' '.join(new.scopes)}")
                print(f"key     {new.secret}\n(shown once: store it now)")
            elif args.keys_cmd == "list":
                for row in list_keys(session):
                    state = "revoked" if row.revoked_at else "active"
                    print(f"{row.prefix}  {state:8} {' '.join(row.scopes):40} {row.name}")
            else:
                if not revoke_key(session, client, args.key):
                    print(f"pivotwatch: no active key '{args.key}'", file=sys.stderr)
                    return 1
                print(f"revoked {args.key}")
    finally:
        client.close()
        engine.dispose()
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from pivotwatch.seed import load

    settings = get_settings()
    key = args.key or os.environ.get("PIVOTWATCH_API_KEY")
    key_file = settings.home / "dev-api-key"
    if not key and key_file.exists():
        key = key_file.read_text().strip()
    if not key:
        sys.exit("pivotwatch: no API key: pass --key, set PIVOTWATCH_API_KEY, or run `up` first")
    url = args.url or f"http://{settings.host}:{settings.ingest_port}"
    counts = load(url, key, progress=sys.stdout.isatty())
    print(
        f"{counts['accepted']} accepted, {counts['duplicate']} duplicate, "
        f"{counts['rejected']} rejected"
    )
    return 0 if counts["rejected"] == 0 else 1


def parser() -> argparse.ArgumentParser:
    from shared.auth import Scope

    p = argparse.ArgumentParser(prog="pivotwatch", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the whole stack (embedded servers unless URLs are set)")
    up.add_argument("--no-seed", action="store_true", help="do not load the seed timelines")
    up.set_defaults(func=cmd_up)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    serve = sub.add_parser("serve", help="run one HTTP service")
    serve.add_argument("service", choices=["ingest", "timeline", "notify"])
    serve.set_defaults(func=cmd_serve)
    relay = sub.add_parser("relay", help="run the stream -> Celery relay")
    relay.add_argument("--heartbeat", help="touch this file on every loop (health checks)")
    relay.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve /metrics on this port (default: PIVOTWATCH_RELAY_METRICS_PORT, 0: none)",
    )
    relay.set_defaults(func=cmd_relay)
    probe = sub.add_parser("probe", help="exit 0 when the URL answers 2xx (health checks)")
    probe.add_argument("url")
    probe.set_defaults(func=cmd_probe)
    alive = sub.add_parser("alive", help="exit 0 when a heartbeat file is fresh or a pid lives")
    alive.add_argument("path", nargs="?", help="heartbeat file")
    alive.add_argument("--max-age", type=float, default=30.0)
    alive.add_argument("--pidfile")
    alive.set_defaults(func=cmd_alive)
    keys = sub.add_parser("keys", help="manage API keys")
    ks = keys.add_subparsers(dest="keys_cmd", required=True)
    create = ks.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", default=[], choices=[s.value for s in Scope])
    ks.add_parser("list")
    revoke = ks.add_parser("revoke")
    revoke.add_argument("key", help="the key's prefix or id")
    keys.set_defaults(func=cmd_keys)
    seed = sub.add_parser("seed", help="load the seed timelines through the ingest API")
    seed.add_argument("--url", help="ingest base URL (default: the local one)")
    seed.add_argument("--key", help="API key with events:write (default: the dev key)")
    seed.set_defaults(func=cmd_seed)
    from pivotwatch import dlq, reenrich, status
    from pivotwatch.timeline_view import add_parser as add_timeline
    from pivotwatch.webhooks_listen import add_parser as add_webhooks

    add_timeline(sub)
    add_webhooks(sub)
    dlq.register(sub)
    reenrich.register(sub)
    status.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
