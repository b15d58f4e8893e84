"""The container and Kubernetes manifests agree with what the service really does.

The manifests are rendered by ``kubectl kustomize`` (offline), then read for
what the code decides: the probe paths are routes the app serves, the ports
are the port it listens on, every setting named is one it reads, and the
commands run are commands it has.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from litestar.routes import HTTPRoute

from masstock.adapters.metrics import Metrics
from masstock.api.app import create_app
from masstock.api.services import Services
from masstock.cli.main import app as cli
from masstock.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
Manifest = dict[str, Any]
# The one writable volume of the pods, a memory-backed emptyDir.
SCRATCH = "/tmp"  # noqa: S108 (a volume of the pod's own, not a shared /tmp)


def _render(folder: str) -> list[Manifest]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render deploy/ (.ci/run installs it)")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> dict[str, Manifest]:
    return {doc["kind"]: doc for doc in _render("base")}


@pytest.fixture(scope="module")
def job() -> Manifest:
    (only,) = _render("migrate")
    assert only["kind"] == "Job"
    return only


def _container(manifest: Manifest) -> Manifest:
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _dockerfile() -> list[tuple[str, str]]:
    """The final stage's instructions, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)
    lines = [line.strip() for line in stages[-1].splitlines()[1:]]
    instructions = [line for line in lines if line and not line.startswith("#")]
    return [(name, value) for name, _, value in map(_split, instructions)]


def _split(instruction: str) -> tuple[str, str, str]:
    return instruction.partition(" ")


def _never_opened() -> AbstractAsyncContextManager[Services]:
    raise AssertionError("the app is inspected, never started")


def _served_get_paths() -> set[str]:
    app = create_app(_never_opened, telemetry=Metrics(), max_header_bytes=16384)
    return {
        route.path_format
        for route in app.routes
        if isinstance(route, HTTPRoute) and "GET" in route.methods
    }


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_probes_ask_paths_the_service_serves(base: dict[str, Manifest]) -> None:
    container = _container(base["Deployment"])

    paths = {
        container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }

    assert paths <= _served_get_paths()
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"


def test_the_port_listened_on_is_the_one_exposed_probed_and_served(
    base: dict[str, Manifest],
) -> None:
    container = _container(base["Deployment"])
    (port,) = container["ports"]
    dockerfile = dict(_dockerfile())

    listened = int(_option(container["args"], "--port"))

    assert port["containerPort"] == listened
    probes = ("startupProbe", "livenessProbe", "readinessProbe")
    assert {container[probe]["httpGet"]["port"] for probe in probes} == {"http"}
    assert port["name"] == "http"
    assert base["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert int(dockerfile["EXPOSE"]) == listened
    assert f"127.0.0.1:{listened}/health/live" in dockerfile["HEALTHCHECK"]
    assert int(_option(json.loads(dockerfile["CMD"]), "--port")) == listened


def test_every_setting_named_is_one_the_service_reads(
    base: dict[str, Manifest], job: Manifest
) -> None:
    known = {f"MASSTOCK_{name.upper()}" for name in Settings.model_fields}
    named = set(base["ConfigMap"]["data"])
    for manifest in (base["Deployment"], job):
        named |= {variable["name"] for variable in _container(manifest)["env"]}
    named |= {
        line.split("=", 1)[0]
        for instruction, value in _dockerfile()
        if instruction == "ENV"
        for line in value.split()
        if "=" in line
    }

    masstock = {name for name in named if name.startswith("MASSTOCK_")}
    assert masstock <= known, masstock - known
    others = named - masstock
    assert others <= {
        "OTEL_SERVICE_NAME",
        "PROMETHEUS_MULTIPROC_DIR",
        "PATH",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
    }


def test_the_configured_settings_are_ones_the_service_accepts(
    base: dict[str, Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in base["ConfigMap"]["data"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "MASSTOCK_DATABASE_URL", "postgresql://masstock@db:5432/masstock"
    )

    try:
        settings = load_settings()
    except SettingsError as exc:
        pytest.fail(f"the ConfigMap's settings are refused: {exc}")

    assert settings.auth == "jwt"
    assert settings.log_format == "json"


def test_the_commands_run_are_commands_of_the_service(
    base: dict[str, Manifest], job: Manifest
) -> None:
    command = typer.main.get_command(cli)
    assert isinstance(command, typer.core.TyperGroup)

    serve = _container(base["Deployment"])["args"]
    migrate = _container(job)["args"]

    assert serve[0] in command.commands
    options = {o for p in command.commands["serve"].params for o in p.opts}
    assert {arg for arg in serve if arg.startswith("--")} <= options
    assert migrate == ["db", "upgrade"]
    db = command.commands["db"]
    assert isinstance(db, typer.core.TyperGroup)
    assert "upgrade" in db.commands
    assert json.loads(dict(_dockerfile())["ENTRYPOINT"]) == ["masstock"]


def test_the_migration_runs_the_same_image_on_the_same_database(
    base: dict[str, Manifest], job: Manifest
) -> None:
    serving, migrating = _container(base["Deployment"]), _container(job)

    def database(container: Manifest) -> Any:
        (variable,) = [
            v for v in container["env"] if v["name"] == "MASSTOCK_DATABASE_URL"
        ]
        return variable["valueFrom"]

    assert serving["image"] == migrating["image"]
    assert database(serving) == database(migrating)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_pods_run_unprivileged_on_a_read_only_root(
    base: dict[str, Manifest], job: Manifest
) -> None:
    user = dict(_dockerfile())["USER"].split(":")[0]

    for manifest in (base["Deployment"], job):
        pod = manifest["spec"]["template"]["spec"]
        container = _container(manifest)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == user
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert SCRATCH in mounts

    env = {v["name"]: v.get("value") for v in _container(base["Deployment"])["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith(f"{SCRATCH}/")


def test_a_stopping_pod_has_time_to_finish_its_requests(
    base: dict[str, Manifest],
) -> None:
    pod = base["Deployment"]["spec"]["template"]["spec"]
    pause = _container(base["Deployment"])["lifecycle"]["preStop"]["exec"]["command"]
    grace = int(base["ConfigMap"]["data"]["MASSTOCK_SHUTDOWN_GRACE"])

    assert pause[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > grace + int(pause[1])


def test_the_disruption_budget_and_autoscaler_aim_at_the_deployment(
    base: dict[str, Manifest],
) -> None:
    labels = base["Deployment"]["spec"]["template"]["metadata"]["labels"]

    selector = base["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    target = base["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]

    assert selector.items() <= labels.items()
    assert base["Service"]["spec"]["selector"].items() <= labels.items()
    assert (target["kind"], target["name"]) == (
        "Deployment",
        base["Deployment"]["metadata"]["name"],
    )
    assert base["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
    policy = base["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
