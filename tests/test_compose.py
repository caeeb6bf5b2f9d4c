"""Static checks of docker-compose.yml, which cannot be run where the tests run."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
UV_RUN = ["uv", "run", "--frozen", "--no-dev"]
MIGRATE_ARGS = ["migrate"]
SERVE_ARGS = ["serve", "--host", "0.0.0.0", "--port", "8000"]
WORKER_ARGS = ["worker"]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def test_the_four_services_exist(services: dict[str, Any]) -> None:
    assert {"db", "migrate", "api", "worker"} <= services.keys()


def test_db_is_postgis_and_reports_readiness(services: dict[str, Any]) -> None:
    db = services["db"]
    assert db["image"].startswith("postgis/postgis:15-3.")
    assert db["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]


def test_migrations_run_once_before_the_api(services: dict[str, Any]) -> None:
    migrate, api = services["migrate"], services["api"]
    assert migrate["command"] == [*UV_RUN, "python", "-m", "app", *MIGRATE_ARGS]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    # Quoted in the file: a bare `no` is YAML for false, which Compose rejects.
    assert migrate["restart"] == "no"
    assert api["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }


def test_api_serves_on_8000_and_checks_healthz(services: dict[str, Any]) -> None:
    api = services["api"]
    assert api["command"] == [*UV_RUN, "python", "-m", "app", *SERVE_ARGS]
    assert api["ports"] == ["8000:8000"]
    assert "'http://127.0.0.1:8000/healthz'" in " ".join(api["healthcheck"]["test"])


def test_worker_sends_webhooks_after_migrations(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert worker["command"] == [*UV_RUN, "python", "-m", "app", *WORKER_ARGS]
    assert worker["depends_on"] == services["api"]["depends_on"]
    assert worker["restart"] == "unless-stopped"
    # It publishes nothing: it only makes outbound requests.
    assert "ports" not in worker
    # Long enough for the deliveries in flight to finish after SIGTERM (default timeout 10 s).
    assert worker["stop_grace_period"] == "30s"


@pytest.mark.parametrize("name", ["api", "migrate", "worker"])
def test_app_services_use_the_db_service(services: dict[str, Any], name: str) -> None:
    env = services[name]["environment"]
    db = services["db"]["environment"]
    user, password, database = db["POSTGRES_USER"], db["POSTGRES_PASSWORD"], db["POSTGRES_DB"]
    assert env["DATABASE_URL"] == f"postgresql+psycopg://{user}:{password}@db:5432/{database}"
    # Only the one-shot migrate service may touch the schema; API workers must not race it.
    assert env["MIGRATE_ON_STARTUP"] == "false"
    # Compose refuses to start without it rather than fall back to the public default.
    assert env["JWT_SECRET"].startswith("${JWT_SECRET:?")


@pytest.mark.slow
@pytest.mark.parametrize("args", [MIGRATE_ARGS, SERVE_ARGS, WORKER_ARGS])
def test_commands_name_real_entry_points(args: list[str]) -> None:
    # argparse exits non-zero on an unknown subcommand, so a clean --help proves it exists.
    result = subprocess.run(
        [sys.executable, "-m", "app", args[0], "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for flag in (arg for arg in args if arg.startswith("--")):
        assert flag in result.stdout


def test_every_service_shares_the_data_keys(services: dict[str, Any]) -> None:
    """What the API seals the worker must open: one required setting, shared by all three."""
    for name in ("migrate", "api", "worker"):
        assert services[name]["environment"]["DATA_ENCRYPTION_KEYS"].startswith("${DATA_ENCRYPTION_KEYS:?")
