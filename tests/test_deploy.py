"""deploy/: the Kubernetes manifests, the compose file, the Helm values and the temporal.toml
profiles, checked offline, and checked against the code they deploy (search attributes,
environment variables, command lines, shutdown time), so that the two cannot drift apart.

No cluster and no image is needed: `kubernetes-validate --strict` (with every socket refused),
the custom resources against the CRD schemas kept in deploy/k8s/schemas/ (kubernetes-validate
knows only Kubernetes' own kinds), `docker-compose config` (Debian's docker-compose), and the
real `csp-orders` argument parser, Temporal's envconfig and the engine's contract."""

from __future__ import annotations

import ast
import copy
import functools
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.envconfig import ClientConfig, ClientConfigProfile
from temporalio.service import TLSConfig

from clients.contract import SEARCH_ATTRIBUTES
from clients.temporal_connection import resolve
from tests.engine.tls_proxy import make_certificates
from workers.cli import build_parser
from workers.settings import PARTNER_CENTER_CREDENTIALS
from workers.storefronts import StorefrontDirectory
from workers.worker import GRACEFUL_SHUTDOWN, build_worker

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = K8S / "schemas"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKER_COMPOSE = "/usr/bin/docker-compose"
KUBERNETES_VALIDATE = Path(sys.executable).with_name("kubernetes-validate")
IMAGE = "csp-orders:"  # the engine's image (deploy/Dockerfile), whatever its tag
SOURCE_PACKAGES = ("clients", "workers", "activities", "workflows", "ordering")
# What must only ever come from a Secret (or deploy/.env), never be written in a manifest.
SECRET_VARIABLES = {
    *PARTNER_CENTER_CREDENTIALS,
    "CSP_CODEC_KEYS",
    "CSP_CODEC_SERVER_TOKEN",
    "TEMPORAL_API_KEY",
}
# mTLS (k8s/mtls/): the Secret base/ mounts, and the variables naming its files.
MTLS_SECRET = "temporal-mtls"
MTLS_VARIABLES = {  # variable: the file's key in a kubernetes.io/tls Secret
    "TEMPORAL_TLS_CLIENT_CERT_PATH": "tls.crt",
    "TEMPORAL_TLS_CLIENT_KEY_PATH": "tls.key",
}
CLI_TYPES = {  # `temporal operator search-attribute create --type` names
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


# ------------------------------------------------------------------ reading the files


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if SCHEMAS not in p.parents)


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in manifest_files()
        for doc in yaml.safe_load_all(path.read_text("utf-8"))
        if doc
    ]


def kept_schema(doc: dict[str, Any]) -> Path:
    group, version = doc["apiVersion"].split("/")
    return SCHEMAS / f"{doc['kind'].lower()}-{group.split('.')[0]}-{version}.json"


def is_custom(doc: dict[str, Any]) -> bool:
    group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
    return "." in group and not group.endswith(".k8s.io")


def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if doc["kind"] in ("Deployment", "Job", "WorkerDeployment"):
        yield doc["spec"]["template"]["spec"]


def containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, doc in manifests():
        for spec in pod_specs(doc):
            for container in spec["containers"]:
                yield f"{path.relative_to(ROOT)} {doc['kind']}/{doc['metadata']['name']}", container


def config_maps() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path, doc in manifests() if doc["kind"] == "ConfigMap"]


def engine_containers() -> list[tuple[str, dict[str, Any]]]:
    return [(where, c) for where, c in containers() if c["image"].startswith(IMAGE)]


def storefronts_example() -> StorefrontDirectory:
    text = (DEPLOY / "storefronts.example.json").read_text("utf-8")
    return StorefrontDirectory.model_validate(json.loads(text))


def webhook_secret_variables() -> set[str]:
    return {s.webhook.secret_env for s in storefronts_example().storefronts.values() if s.webhook}


def compose_binary() -> str:
    if not Path(DOCKER_COMPOSE).exists():
        pytest.fail(
            f"{DOCKER_COMPOSE} is missing: sudo apt-get install docker-compose (.ci/run does)"
        )
    return DOCKER_COMPOSE


def docker_compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    # Only what compose needs from the environment: never a CSP_ or TEMPORAL_ variable of the
    # machine running the test, so deploy/.env.example alone decides.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [compose_binary(), "-f", str(COMPOSE), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@functools.cache
def resolved_compose(*profiles: str) -> dict[str, Any]:
    """`docker-compose config` of deploy/compose.yaml with deploy/.env.example (don't change
    what it returns: it is read once per profile)."""
    options = [arg for p in profiles for arg in ("--profile", p)]
    run = docker_compose(*options, "config")
    assert run.returncode == 0, run.stderr
    config: dict[str, Any] = yaml.safe_load(run.stdout)
    return config


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def registered(arguments: list[str]) -> dict[str, str]:
    """The search attributes a `temporal operator search-attribute create` command line
    registers, by name: its `--name` and `--type` pairs, in order."""
    create = ["operator", "search-attribute", "create"]
    start = next(i for i in range(len(arguments)) if arguments[i : i + 3] == create)
    names, types = [], []
    words = arguments[start + 3 :]
    for flag, value in itertools.pairwise(words):
        if flag == "--name":
            names.append(value)
        elif flag == "--type":
            types.append(value)
    assert len(names) == len(types), arguments
    return dict(zip(names, types, strict=True))


def contract_attributes() -> dict[str, str]:
    return {key.name: CLI_TYPES[key.indexed_value_type] for key in SEARCH_ATTRIBUTES}


def strict(schema: Any) -> Any:
    """The schema as the API server's strict field validation applies it: no field it does not
    list, wherever it lists fields and does not keep unknown ones."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def crd_errors(doc: dict[str, Any]) -> list[str]:
    schema = strict(json.loads(kept_schema(doc).read_text("utf-8")))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(doc)
    ]


# ------------------------------------------------------------------ Kubernetes


def test_every_manifest_passes_kubernetes_validate_strict_without_the_network(
    tmp_path: Path,
) -> None:
    # Every socket refused in the validator's process: it must need nothing from the network.
    (tmp_path / "sitecustomize.py").write_text(
        "import socket\n"
        "def _refused(*args, **kwargs):\n"
        "    raise OSError('offline check: no network')\n"
        "socket.socket.connect = _refused\n"
        "socket.socket.connect_ex = _refused\n"
        "socket.getaddrinfo = _refused\n"
        "socket.create_connection = _refused\n",
        "utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    guard = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "offline check: no network" in guard.stderr  # the guard is in force
    files = [str(p.relative_to(ROOT)) for p in manifest_files()]
    run = subprocess.run(
        [str(KUBERNETES_VALIDATE), "--strict", *files],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    passed = re.findall(r"^INFO \S+ passed for resource (\S+)", run.stdout, re.M)
    unknown = set(
        re.findall(r"Couldn't find schema for kind (\S+) with api version (\S+)", run.stdout)
    )
    docs = [doc for _, doc in manifests()]
    builtin = [f"{d['kind'].lower()}/{d['metadata']['name']}" for d in docs if not is_custom(d)]
    assert sorted(passed) == sorted(builtin)
    # It skips what it has no schema for: exactly the custom resources, checked below.
    assert unknown == {(d["kind"], d["apiVersion"]) for d in docs if is_custom(d)}


def test_the_custom_resources_match_the_kept_crd_schemas() -> None:
    custom = [(path, doc) for path, doc in manifests() if is_custom(doc)]
    assert {doc["kind"] for _, doc in custom} == {
        "ScaledObject",
        "TriggerAuthentication",
        "ServiceMonitor",
        "Connection",
        "WorkerDeployment",
    }
    for path, doc in custom:
        assert kept_schema(doc).exists(), f"{path}: no schema kept for {doc['apiVersion']}"
        assert crd_errors(doc) == [], f"{path} {doc['kind']}"
    # The check can fail: a misspelt field and a wrong type are refused.
    scaled = next(doc for _, doc in custom if doc["kind"] == "ScaledObject")
    misspelt = copy.deepcopy(scaled)
    misspelt["spec"]["minReplicas"] = misspelt["spec"].pop("minReplicaCount")
    assert any("minReplicas" in e for e in crd_errors(misspelt))
    worker = copy.deepcopy(next(doc for _, doc in custom if doc["kind"] == "WorkerDeployment"))
    worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "60"
    assert crd_errors(worker) != []


def test_every_search_attribute_of_the_contract_is_registered_with_its_type() -> None:
    expected = contract_attributes()
    assert "CspStorefront" in expected
    jobs = [
        c
        for _, c in containers()
        if "search-attribute" in (c.get("command", []) + c.get("args", []))
    ]
    assert len(jobs) == 1
    assert registered(jobs[0]["command"] + jobs[0].get("args", [])) == expected
    setup = resolved_compose()["services"]["temporal-setup"]
    script = setup["command"][0].replace("$$", "$")
    lines = [shlex.split(line) for line in script.splitlines() if "search-attribute" in line]
    assert len(lines) == 1
    assert registered(lines[0]) == expected


def test_the_workers_outlast_their_graceful_shutdown() -> None:
    # The worker really uses GRACEFUL_SHUTDOWN: build_worker passes it to its Worker.
    tree = ast.parse(Path(sys.modules[build_worker.__module__].__file__ or "").read_text())
    function = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "build_worker"
    )
    passed = [
        kw.value.id
        for n in ast.walk(function)
        if isinstance(n, ast.Call)
        for kw in n.keywords
        if kw.arg == "graceful_shutdown_timeout" and isinstance(kw.value, ast.Name)
    ]
    assert passed == ["GRACEFUL_SHUTDOWN"] * 2  # the task queue's worker, the coordination's
    grace = GRACEFUL_SHUTDOWN.total_seconds()
    worker_pods = [
        spec
        for _, doc in manifests()
        for spec in pod_specs(doc)
        if any(
            c["image"].startswith(IMAGE) and c["args"][0] == "worker" for c in spec["containers"]
        )
    ]
    assert len(worker_pods) == 2  # the plain Deployment and the WorkerDeployment
    for spec in worker_pods:
        assert spec["terminationGracePeriodSeconds"] > grace
    stop = resolved_compose()["services"]["worker"]["stop_grace_period"]
    assert timedelta(seconds=int(stop.removesuffix("s"))).total_seconds() > grace


def test_every_engine_command_line_is_one_the_cli_takes() -> None:
    commands = [c["args"] for _, c in engine_containers()]
    compose = resolved_compose("sandbox")["services"]
    commands += [s["command"] for s in compose.values() if s["image"].startswith(IMAGE)]
    assert len(commands) == 4 + 4  # worker twice, api and codec server; compose: + sandbox
    parser = build_parser()
    for args in commands:
        parsed = parser.parse_args(args)  # exits (fails the test) on an unknown option
        if args[0] == "worker":
            assert parsed.metrics_host == "0.0.0.0" and parsed.metrics_port == 9464
        if args[0] in ("api", "codec-server", "sandbox"):
            assert parsed.host == "0.0.0.0"  # reachable from outside its container


def test_the_mtls_variant_mounts_the_secret_where_its_variables_point(tmp_path: Path) -> None:
    """mtls/'s ConfigMap names the files of the Secret temporal-mtls as every client of
    Temporal in base/ (the worker, the API, the search attributes Job) mounts it; with the
    Secret's files there, the engine offers the client certificate."""
    [(path, config)] = config_maps()
    assert path.parent == K8S / "mtls"
    files = config["data"]
    assert {variable: Path(file).name for variable, file in files.items()} == MTLS_VARIABLES
    [directory] = {str(Path(file).parent) for file in files.values()}
    clients = [
        (f"{p.relative_to(ROOT)} {doc['kind']}/{doc['metadata']['name']}", spec, container)
        for p, doc in manifests()
        for spec in pod_specs(doc)
        for container in spec["containers"]
        if any(e["name"] == "TEMPORAL_ADDRESS" for e in container.get("env", []))
    ]
    assert sorted(where for where, _, _ in clients) == [
        "deploy/k8s/base/api.yaml Deployment/csp-orders-api",
        "deploy/k8s/base/search-attributes-job.yaml Job/csp-orders-search-attributes",
        "deploy/k8s/base/worker.yaml Deployment/csp-orders-worker-0-1-0",
    ]
    for where, spec, container in clients:
        refs = [e["configMapRef"] for e in container.get("envFrom", []) if "configMapRef" in e]
        assert refs == [{"name": config["metadata"]["name"], "optional": True}], where
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
        assert mount.get("readOnly") is True and "subPath" not in mount, where
        [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        # The whole Secret (no `items`): its keys are the file names.
        assert volume == {
            "name": mount["name"],
            "secret": {"secretName": MTLS_SECRET, "optional": True},
        }, where
    # The same files as the cloud-mtls profile of deploy/temporal.toml.
    profile = ClientConfig.load(config_source=DEPLOY / "temporal.toml").profiles["cloud-mtls"]
    assert profile.tls is not None
    assert {str(profile.tls.client_cert), str(profile.tls.client_private_key)} == set(
        files.values()
    )
    # A pod's view: the Secret's files where the volume puts them, the ConfigMap's variables.
    certificates = make_certificates(tmp_path)
    mounted = tmp_path / "mount"
    mounted.mkdir()
    shutil.copy(certificates.client_cert, mounted / "tls.crt")
    shutil.copy(certificates.client_key, mounted / "tls.key")
    env = {name: file.replace(directory, str(mounted)) for name, file in files.items()}
    connection = resolve(environ={"HOME": str(tmp_path), "TEMPORAL_ADDRESS": "t:7233", **env})
    assert connection.offers_client_certificate and isinstance(connection.tls, TLSConfig)
    assert connection.tls.client_cert == certificates.client_cert.read_bytes()
    assert connection.tls.client_private_key == certificates.client_key.read_bytes()


# ------------------------------------------------------------------ environment variables


def constants_read_by_the_code() -> set[str]:
    """Every string constant of the engine's packages, docstrings left out."""
    found: set[str] = set()
    for package in SOURCE_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text("utf-8"))
            docstrings = {
                id(n.value)
                for n in ast.walk(tree)
                if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
            }
            found |= {
                n.value
                for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
                if id(n) not in docstrings
            }
    return found


def read_by_envconfig(name: str) -> bool:
    """Whether Temporal's environment configuration (what the engine connects with) reads
    `name`: a profile loaded with it set differs from one loaded without."""

    def load(env: dict[str, str]) -> ClientConfigProfile:
        return ClientConfigProfile.load(disable_file=True, override_env_vars=env)

    return load({name: "true"}) != load({})


def check_variable(name: str, code: set[str], where: str) -> None:
    if name in webhook_secret_variables():
        return  # named by the storefronts file's `secret_env`, read through it
    if name.startswith("TEMPORAL_") and read_by_envconfig(name):
        assert "temporalio.envconfig" in code or any(
            "envconfig" in (ROOT / "clients" / p).read_text("utf-8")
            for p in os.listdir(ROOT / "clients")
            if p.endswith(".py")
        ), f"{where}: {name} is Temporal's envconfig, which the engine does not read"
        return
    assert name in code, f"{where}: the engine reads no variable {name}"


def test_every_variable_the_manifests_set_is_one_the_code_reads() -> None:
    code = constants_read_by_the_code()
    engine = engine_containers()
    names = {(e["name"], where) for where, c in engine for e in c.get("env", [])}
    assert {"TEMPORAL_ADDRESS", "TEMPORAL_API_KEY", "TEMPORAL_WORKER_BUILD_ID"} <= {
        n for n, _ in names
    }
    names |= {
        (name, f"{path.relative_to(ROOT)} ConfigMap/{doc['metadata']['name']}")
        for path, doc in config_maps()
        for name in doc["data"]
    }
    for service_name, service in resolved_compose("sandbox")["services"].items():
        if service["image"].startswith(IMAGE):
            names |= {(n, f"compose {service_name}") for n in compose_env(service)}
    for name, where in sorted(names):
        check_variable(name, code, where)
    # The webhook secrets the worker gets are the ones the storefronts file names.
    worker = resolved_compose()["services"]["worker"]
    assert webhook_secret_variables() <= set(compose_env(worker))
    # The check can fail.
    with pytest.raises(AssertionError, match="CSP_TEMPORAL_ADRESS"):
        check_variable("CSP_TEMPORAL_ADRESS", code, "a typo")


def test_secrets_are_only_referenced() -> None:
    secret = SECRET_VARIABLES | webhook_secret_variables()
    kinds = {doc["kind"] for _, doc in manifests()}
    assert "Secret" not in kinds
    # The one ConfigMap (mtls/) names files of a Secret, and holds nothing else.
    for _, config in config_maps():
        assert set(config["data"]) == set(MTLS_VARIABLES), config["data"]
    for where, container in containers():
        for variable in container.get("env", []):
            if variable["name"] in secret:
                assert "value" not in variable, f"{where}: {variable['name']} written in"
                assert "secretKeyRef" in variable["valueFrom"], where
    # compose: a secret is always ${...} from deploy/.env, never written in compose.yaml.
    raw = yaml.safe_load(COMPOSE.read_text("utf-8"))
    anchors = [raw.get("x-temporal-client", {}), raw.get("x-codec-keys", {})]
    for env in [*anchors, *(compose_env(s) for s in raw["services"].values())]:
        for name, value in env.items():
            if name in secret or "PASSWORD" in name or name.endswith("_PWD"):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", str(value)), f"compose {name}"
    # Helm: the database password from an existing Secret.
    values = yaml.safe_load((DEPLOY / "helm" / "temporal-values.yaml").read_text("utf-8"))
    for store in values["server"]["config"]["persistence"]["datastores"].values():
        assert "password" not in store["sql"] and store["sql"]["existingSecret"]
    # Nothing that looks like key material anywhere under deploy/.
    for path in DEPLOY.rglob("*"):
        if path.is_file() and SCHEMAS not in path.parents and path.suffix != ".sh":
            text = path.read_text("utf-8")
            assert "PRIVATE KEY" not in text, path
            assert not re.search(r"[A-Za-z0-9+/]{43}=", text), path  # base64 of 32 bytes


def test_compose_missing_secret_is_one_line_naming_it(tmp_path: Path) -> None:
    lines = ENV_EXAMPLE.read_text("utf-8").splitlines()
    without = tmp_path / "env"
    without.write_text(
        "\n".join(line for line in lines if not line.startswith("CSP_PC_CLIENT_SECRET=")) + "\n"
    )
    run = docker_compose("config", "-q", env_file=without)
    assert run.returncode != 0
    assert "set CSP_PC_CLIENT_SECRET in deploy/.env" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_example_env_holds_no_usable_key() -> None:
    from clients.payloads import KeyRing

    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    )
    with pytest.raises(ValueError, match="CSP_CODEC_KEYS"):
        KeyRing.parse(example["CSP_CODEC_KEYS"], example["CSP_CODEC_ACTIVE_KEY"])


def test_env_is_ignored_and_the_example_is_not() -> None:
    def ignored(path: str) -> bool:
        check = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        return check.returncode == 0

    assert ignored("deploy/.env")
    assert ignored("deploy/storefronts/storefronts.json")
    assert not ignored("deploy/.env.example")


# ------------------------------------------------------------------ compose


@pytest.mark.parametrize("profiles", [(), ("sandbox",)])
def test_compose_config_is_valid(profiles: tuple[str, ...]) -> None:
    options = [arg for p in profiles for arg in ("--profile", p)]
    run = docker_compose(*options, "config", "-q")
    assert run.returncode == 0, run.stderr
    services = resolved_compose(*profiles)["services"]
    assert set(services) == {
        "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
        "worker", "api", "codec-server", "sandbox",
    }  # fmt: skip
    # Only the sandbox is optional: `up` without `--profile sandbox` leaves it out.
    assert {name: s["profiles"] for name, s in services.items() if "profiles" in s} == {
        "sandbox": ["sandbox"]
    }


def test_compose_publishes_only_on_loopback() -> None:
    for name, service in resolved_compose("sandbox")["services"].items():
        for port in service.get("ports", []):
            # (docker-compose 1.29 prints "127.0.0.1:7233:7233"; later ones a mapping)
            host = port["host_ip"] if isinstance(port, dict) else port.rsplit(":", 2)[0]
            assert host == "127.0.0.1", name


# ------------------------------------------------------------------ Helm and temporal.toml


def keys_outside(values: Any, defaults: Any, path: str = "") -> list[str]:
    """The key paths of `values` the chart's defaults do not have (below a default that is
    empty or null, any key goes: the chart passes it through)."""
    if not isinstance(values, dict) or not isinstance(defaults, dict) or not defaults:
        return []
    missing = []
    for key, value in values.items():
        if key not in defaults:
            missing.append(f"{path}{key}")
        elif defaults[key] is not None:
            missing += keys_outside(value, defaults[key], f"{path}{key}.")
    return missing


def test_the_helm_values_are_the_charts_and_use_postgresql() -> None:
    helm = DEPLOY / "helm"
    values = yaml.safe_load((helm / "temporal-values.yaml").read_text("utf-8"))
    defaults = yaml.safe_load((helm / "temporal-chart-1.6.0-values.yaml").read_text("utf-8"))
    assert keys_outside(values, defaults) == []
    assert keys_outside({"server": {"replicas": 2}}, defaults) == ["server.replicas"]
    persistence = values["server"]["config"]["persistence"]
    stores = persistence["datastores"]
    assert {persistence["defaultStore"], persistence["visibilityStore"]} == set(stores)
    for store in stores.values():
        assert store["sql"]["pluginName"] == "postgres12"
    namespaces = values["server"]["config"]["namespaces"]["namespace"]
    assert [n["name"] for n in namespaces] == ["default"]


def test_the_temporal_toml_profiles() -> None:
    source = DEPLOY / "temporal.toml"
    profiles = ClientConfig.load(config_source=source, config_file_strict=True).profiles
    assert set(profiles) == {"local", "cloud-api-key", "cloud-mtls"}
    local = profiles["local"]
    assert (local.address, local.namespace, local.api_key, local.tls) == (
        "127.0.0.1:7233",
        "default",
        None,
        None,
    )
    for name in ("cloud-api-key", "cloud-mtls"):
        assert profiles[name].address == "csp-orders.a1b2c.tmprl.cloud:7233"
        assert profiles[name].namespace == "csp-orders.a1b2c"
        assert profiles[name].api_key is None  # never in the file
    with_key = ClientConfigProfile.load(
        profile="cloud-api-key",
        config_source=source,
        override_env_vars={"TEMPORAL_API_KEY": "from-a-secret"},
    )
    connect = with_key.to_client_connect_config()
    assert connect["api_key"] == "from-a-secret" and connect.get("tls")
    assert with_key.tls is not None and with_key.tls.client_cert is None
    mtls = profiles["cloud-mtls"].tls
    assert mtls is not None and mtls.disabled is not True
    # where a kubernetes.io/tls Secret is mounted (as temporal-worker-controller mounts it)
    assert (mtls.client_cert, mtls.client_private_key) == (
        Path("/etc/temporal/tls/tls.crt"),
        Path("/etc/temporal/tls/tls.key"),
    )


# ------------------------------------------------------------------ deploy/README.md


def readme_commands() -> list[str]:
    text = (DEPLOY / "README.md").read_text("utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands, pending = [], ""
    for line in "\n".join(blocks).splitlines():
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def test_every_command_of_the_deploy_readme_is_run_here_or_marked_for_a_cluster(
    tmp_path: Path,
) -> None:
    commands = readme_commands()
    elsewhere = [c for c in commands if re.search(r"# \((cluster|docker)\)", c)]
    here = [c for c in commands if c not in elsewhere]
    assert here == [
        'python3 -c "import base64, os; '
        "print('k1=' + base64.b64encode(os.urandom(32)).decode())\"",
        'python3 -c "import secrets; print(secrets.token_urlsafe(32))"',
        "mkdir -p deploy/storefronts",
        "cp deploy/storefronts.example.json deploy/storefronts/storefronts.json",
        ".venv/bin/csp-orders api-key new --file deploy/storefronts/storefronts.json "
        "--storefront contoso-shop",
        "docker-compose -f deploy/compose.yaml --env-file deploy/.env config -q",
        ".venv/bin/kubernetes-validate --strict deploy/k8s/*/*.yaml",
    ]
    from clients.payloads import KeyRing

    # Run as written, in a copy of deploy/ (the test writes nothing into the repository).
    (tmp_path / "deploy").mkdir()
    for name in ("compose.yaml", "storefronts.example.json"):
        shutil.copy(DEPLOY / name, tmp_path / "deploy" / name)
    shutil.copytree(K8S, tmp_path / "deploy" / "k8s")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    outputs = []
    for command in here[:5]:
        run = subprocess.run(
            command, shell=True, cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, f"{command}: {run.stderr}"
        outputs.append(run.stdout.strip())
    key, token = outputs[0], outputs[1]
    ring = KeyRing.parse(key, "k1")  # what the README makes is a key ring the engine takes
    assert ring.active == "k1" and len(token) >= 32
    stored = storefronts_example().model_copy()
    made = StorefrontDirectory.model_validate_json(
        (tmp_path / "deploy" / "storefronts" / "storefronts.json").read_text("utf-8")
    )
    assert made.storefronts["contoso-shop"].webhook == stored.storefronts["contoso-shop"].webhook
    assert made.storefront_of_key(outputs[4]) == "contoso-shop"
    # deploy/.env from the example, with the values the commands above made.
    env = ENV_EXAMPLE.read_text("utf-8")
    env = re.sub(r"^CSP_CODEC_KEYS=.*$", f"CSP_CODEC_KEYS={key}", env, flags=re.M)
    (tmp_path / "deploy" / ".env").write_text(env)
    run = subprocess.run(
        [
            compose_binary(),
            *shlex.split(here[5])[1:],
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        here[6], shell=True, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and "ERROR" not in run.stdout, run.stdout
    assert run.stdout.count("passed for resource") == len(
        [d for _, d in manifests() if not is_custom(d)]
    )
