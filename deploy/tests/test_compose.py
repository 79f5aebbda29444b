"""Static checks of the docker-compose stack (these machines have no Docker engine):
the file parses, build contexts/Dockerfiles/targets and mounted files exist, every environment
variable the compose file gives judge-server and the trainer is one they read (and the ones they
need are given), deploy/moj.toml passes `judge-server check-config` under that environment, and
ports and healthchecks agree across services, nginx and the judge config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ENV_EXAMPLE = dict(
    line.split("=", 1)
    for line in (REPO / ".env.example").read_text().splitlines()
    if line and not line.startswith("#")
)
# Variables the judge-server reads besides MOJ_<SECTION>_<KEY> (judge-server/src/config/env.rs, main.rs).
JUDGE_SERVER_VARS = {
    "MOJ_CONFIG", "MOJ_LISTEN", "MOJ_DATA_DIR", "DATABASE_URL",
    "MOJ_API_KEYS", "MOJ_ADMIN_KEYS", "MOJ_ALLOW_UNAUTHENTICATED", "RUST_LOG",
}
OVERRIDABLE_SECTIONS = ["server", "limits", "cache", "database", "sandbox"]


def target_dir() -> Path:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    return Path(json.loads(out)["target_directory"]) / "debug"


def binary(name: str) -> Path:
    path = target_dir() / name
    if not path.exists():
        pytest.fail(f"{path} is missing: scripts/test.sh builds it")
    return path


def interpolate(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with the values of .env.example."""

    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in ENV_EXAMPLE and ENV_EXAMPLE[name] != "":
            return ENV_EXAMPLE[name]
        if op == ":?":
            pytest.fail(f"${{{name}}} is required by docker-compose.yml but missing from .env.example")
        return arg or ""

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", one, value)


def service_env(name: str) -> dict:
    env = SERVICES[name].get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: interpolate(str(v)) for k, v in env.items()}


def dockerfile_env(path: Path) -> dict:
    """ENV lines of a Dockerfile (the `ENV A=1 \\ B=2` form)."""
    text = path.read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def config_keys() -> dict:
    """Every key of the overridable sections, from the server's own full config dump."""
    out = subprocess.run(
        [str(binary("judge-server")), "check-config"],
        env={"PATH": os.environ["PATH"], "DATABASE_URL": "sqlite::memory:"},
        check=True, capture_output=True, text=True,
    ).stdout
    doc = tomllib.loads("\n".join(l for l in out.splitlines() if not l.startswith("# ok")))
    return {s: set(doc.get(s, {})) for s in OVERRIDABLE_SECTIONS}


def read_by_judge_server(var: str, keys: dict, api_key_vars: set) -> bool:
    if var in JUDGE_SERVER_VARS or var in api_key_vars:
        return True
    if var.startswith("MOJ_"):
        rest = var[4:].lower()
        for section in OVERRIDABLE_SECTIONS:
            if rest.startswith(section + "_") and rest[len(section) + 1 :] in keys[section]:
                return True
    return False


def test_build_contexts_dockerfiles_targets_and_mounts_exist():
    for name, service in SERVICES.items():
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            if "target" in build:
                stages = re.findall(r"^FROM \S+ AS (\S+)", dockerfile.read_text(), re.M)
                assert build["target"] in stages, f"{name}: no stage {build['target']} in {dockerfile}"
            # every COPY source of the build context exists
            for src in re.findall(r"^COPY (?!--from)(\S+) ", dockerfile.read_text(), re.M):
                assert (context / src).exists(), f"{dockerfile}: COPY {src} missing"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                if source in ("./runs",):  # an output folder docker creates
                    continue
                assert (REPO / source).exists(), f"{name}: mount source {source} missing"
            else:
                assert source in COMPOSE["volumes"], f"{name}: volume {source} not declared"


def test_images_run_as_non_root_and_judge_image_carries_the_runtime():
    judge = (REPO / "judge-server/Dockerfile").read_text()
    trainer = (REPO / "trainer/Dockerfile").read_text()
    for text in (judge, trainer):
        for stage in re.split(r"^FROM ", text, flags=re.M)[1:]:
            if " AS build" in stage.splitlines()[0]:
                continue
            assert "USER moj" in stage, f"runtime stage {stage.splitlines()[0]} runs as root"
    assert "sandboxes/python/fetch.sh" in judge and "/opt/moj/runtimes" in judge
    assert "--features cuda" in trainer


def test_every_variable_given_to_judge_server_is_read_and_required_ones_are_given():
    keys = config_keys()
    moj = tomllib.loads((REPO / "deploy/moj.toml").read_text())
    api_key_vars = {b["api_key_env"] for b in moj["llm"]["backends"].values() if "api_key_env" in b}
    env = {**dockerfile_env(REPO / "judge-server/Dockerfile"), **service_env("judge-server")}
    for var in env:
        assert read_by_judge_server(var, keys, api_key_vars), f"judge-server does not read {var}"
    for required in ["DATABASE_URL", "MOJ_API_KEYS", "MOJ_ADMIN_KEYS", "MOJ_CONFIG", *api_key_vars]:
        assert required in env, f"judge-server needs {required}"
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    # the mounted config is the one MOJ_CONFIG names
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["judge-server"]["volumes"]}
    assert mounts[env["MOJ_CONFIG"]] == "./deploy/moj.toml"


def test_deploy_config_passes_check_config_under_the_compose_environment(tmp_path):
    env = {**dockerfile_env(REPO / "judge-server/Dockerfile"), **service_env("judge-server")}
    env["MOJ_CONFIG"] = str(REPO / "deploy/moj.toml")
    env["DATABASE_URL"] = f"sqlite://{tmp_path / 'check.sqlite3'}?mode=rwc"  # no postgres host here
    env["MOJ_DATA_DIR"] = str(tmp_path)
    env["PATH"] = os.environ["PATH"]
    out = subprocess.run([str(binary("judge-server")), "check-config"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "# ok:" in out.stdout
    for secret in (ENV_EXAMPLE["MOJ_API_KEYS"], ENV_EXAMPLE["MOJ_ADMIN_KEYS"]):
        assert secret not in out.stdout + out.stderr, "a key was printed"
    # the experiment's tasks are there for `trainer experiment --judge-url http://lb:8080`
    moj = tomllib.loads((REPO / "deploy/moj.toml").read_text())
    assert {"math", "instruction_following", "code"} <= set(moj["tasks"])


def test_trainer_reads_the_key_variable_compose_gives_it():
    help_text = subprocess.run(
        [str(binary("trainer")), "experiment", "--help"], check=True, capture_output=True, text=True
    ).stdout
    for service in ("trainer", "trainer-cuda"):
        for var in service_env(service):
            assert var in help_text, f"{service}: trainer does not document reading {var}"


def port_of(url: str) -> int:
    return int(re.search(r":(\d+)", url.split("//", 1)[-1]).group(1))


def test_ports_and_healthchecks_agree():
    env = service_env("judge-server")
    listen = port_of("//" + env["MOJ_LISTEN"])
    assert [int(p) for p in SERVICES["judge-server"]["expose"]] == [listen]
    assert port_of(SERVICES["judge-server"]["healthcheck"]["test"][-1]) == listen
    nginx = (REPO / "deploy/nginx.conf").read_text()
    assert f"http://judge-server:{listen}" in nginx
    nginx_listen = int(re.search(r"listen (\d+);", nginx).group(1))
    lb_port = SERVICES["lb"]["ports"][0]
    assert int(interpolate(lb_port).split(":")[1]) == nginx_listen
    assert port_of(SERVICES["lb"]["healthcheck"]["test"][-1]) == nginx_listen
    # llm: its --port, its healthcheck and the judge config's backend agree
    command = SERVICES["llm"]["command"]
    llm_port = int(command[command.index("--port") + 1])
    assert port_of(SERVICES["llm"]["healthcheck"]["test"][-1]) == llm_port
    moj = tomllib.loads((REPO / "deploy/moj.toml").read_text())
    local = moj["llm"]["backends"]["local"]
    assert local["base_url"] == f"http://llm:{llm_port}/v1"
    assert local["model"] == command[command.index("--alias") + 1]
    vllm = SERVICES["vllm"]["command"]
    guard = moj["llm"]["backends"]["guard"]
    assert guard["base_url"] == f"http://vllm:{vllm[vllm.index('--port') + 1]}/v1"
    assert guard["model"] == vllm[vllm.index("--served-model-name") + 1]
    # depends_on: `service_healthy` only on services with a healthcheck
    for name, service in SERVICES.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep} to be healthy: no healthcheck"
    # GPU services reserve a GPU and sit behind a profile
    for name in ("trainer-cuda", "vllm"):
        assert "gpu" in SERVICES[name]["profiles"]
        assert SERVICES[name]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "/readyz" in (REPO / "judge-server/Dockerfile").read_text()
