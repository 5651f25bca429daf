"""docker-compose.yml checked against the code, since no Docker engine runs here: every command
resolves to a real entry point, every PIVOTWATCH_ variable is a setting, every long-running
service has a health check and waits for healthy dependencies, and no two publish one port."""

from __future__ import annotations

import importlib
import re
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
    """Compose's `${VAR:?message}`, filled from `env` (a missing one fails, as compose does)."""
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

    @pytest.mark.parametrize("name", sorted(SERVICES))
    def test_every_command_resolves_to_an_entry_point(self, name: str) -> None:
        for argv in _commands(SERVICES[name]):
            _resolves(argv)

    @pytest.mark.parametrize("name", APP_SERVICES)
    def test_every_variable_is_a_setting(self, name: str) -> None:
        fields = {f"PIVOTWATCH_{f.upper()}" for f in Settings.model_fields}
        env = SERVICES[name].get("environment", {})
        unknown = {k for k in env if k.startswith("PIVOTWATCH_")} - fields
        assert not unknown

    @pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT))
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
