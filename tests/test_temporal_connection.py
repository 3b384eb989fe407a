"""Temporal's client configuration as the engine resolves it (clients/temporal_connection.py):
precedence of the command line, the environment, the former names and a temporal.toml profile;
files that are not there; no Temporal needed."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from clients.payloads import PLAINTEXT_CONSENT, PLAINTEXT_SWITCH
from clients.storefront import EncryptionNotConfigured, Storefront
from clients.temporal_connection import (
    TemporalSettingsInvalid,
    TemporalUnreachable,
    connect_client,
    connection_for,
    local_server,
    local_server_environment,
    resolve,
)
from tests.engine.tls_proxy import make_certificates
from tests.helpers import csp_orders, without

SECRET = "s3cr3t-api-key-value"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with no Temporal settings and no temporal.toml in the user's config."""
    return {"HOME": str(tmp_path / "home")}


def profile_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(text)
    return path


def test_without_settings_the_local_default(home: dict[str, str]) -> None:
    connection = resolve(environ=home)
    assert (connection.target_host, connection.namespace) == ("127.0.0.1:7233", "default")
    assert connection.tls is False and connection.api_key is None
    assert connection.address_source == "default"


def test_temporal_names_win_over_the_former_ones(home: dict[str, str]) -> None:
    env = {**home, "CSP_TEMPORAL_ADDRESS": "10.0.0.1:1", "CSP_TEMPORAL_NAMESPACE": "old"}
    alias = resolve(environ=env)
    assert (alias.target_host, alias.namespace, alias.address_source) == (
        "10.0.0.1:1",
        "old",
        "CSP_TEMPORAL_ADDRESS",
    )
    both = resolve(environ={**env, "TEMPORAL_ADDRESS": "127.0.0.2:2", "TEMPORAL_NAMESPACE": "new"})
    assert (both.target_host, both.namespace, both.address_source) == (
        "127.0.0.2:2",
        "new",
        "TEMPORAL_ADDRESS",
    )


def test_the_former_names_never_override_a_profile(home: dict[str, str], tmp_path: Path) -> None:
    config = profile_file(
        tmp_path, '[profile.cloud]\naddress = "127.0.0.5:5"\nnamespace = "shop.a1b2c"\n'
    )
    env = {
        **home,
        "TEMPORAL_CONFIG_FILE": str(config),
        "TEMPORAL_PROFILE": "cloud",
        "CSP_TEMPORAL_ADDRESS": "127.0.0.1:7233",
        "CSP_TEMPORAL_NAMESPACE": "default",
    }
    connection = resolve(environ=env)
    assert (connection.target_host, connection.namespace) == ("127.0.0.5:5", "shop.a1b2c")
    assert connection.address_source == f"profile cloud in {config}"


def test_a_local_stack_is_kept_from_the_operators_settings(
    home: dict[str, str], tmp_path: Path
) -> None:
    """The dev stack's, the benchmark's and the chaos harness's processes talk to their own
    server, plainly, whatever the shell or the default profile says."""
    profiles = tmp_path / "home" / ".config" / "temporalio"
    profiles.mkdir(parents=True)
    (profiles / "temporal.toml").write_text(
        f'[profile.default]\naddress = "127.0.0.5:5"\napi_key = "{SECRET}"\n'
    )
    shell = {
        **home,
        "TEMPORAL_NAMESPACE": "prod",
        "TEMPORAL_API_KEY": SECRET,
        "TEMPORAL_DEPLOYMENT_NAME": "csp-orders",
        "TEMPORAL_WORKER_BUILD_ID": "7",
        "CSP_TEMPORAL_ADDRESS": "127.0.0.6:6",
        "PATH": "/usr/bin",
    }
    assert resolve(environ=shell).api_key == SECRET  # (what would leak without it)
    stack = tmp_path / "stack"
    stack.mkdir()
    env = local_server_environment(shell, "127.0.0.7:7", stack)
    assert {k for k in env if k.startswith("TEMPORAL_")} == {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_CONFIG_FILE",
    }
    assert "CSP_TEMPORAL_ADDRESS" not in env and env["PATH"] == "/usr/bin"
    connection = resolve(environ=env)
    assert (connection.target_host, connection.namespace) == ("127.0.0.7:7", "default")
    assert connection.api_key is None and connection.tls is False
    local = local_server("127.0.0.7:7")
    assert local.connect_kwargs() == {
        "target_host": "127.0.0.7:7",
        "namespace": "default",
        "api_key": None,
        "tls": False,
        "rpc_metadata": {},
    }


def test_the_command_line_wins_over_everything(home: dict[str, str], tmp_path: Path) -> None:
    config = profile_file(tmp_path, '[profile.default]\naddress = "127.0.0.3:3"\n')
    env = {**home, "TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_ADDRESS": "127.0.0.2:2"}
    connection = resolve("127.0.0.4:4", "ns", environ=env)
    assert (connection.target_host, connection.namespace) == ("127.0.0.4:4", "ns")
    assert connection.address_source == "--address"


def test_a_namespace_given_with_a_resolved_connection_is_never_dropped(
    home: dict[str, str], tmp_path: Path
) -> None:
    """The SDK, the worker and the API take an address or a resolved connection, and a
    namespace (`connection_for`): the namespace wins over the connection's as it wins over the
    settings', and nothing else of the connection changes."""
    certificates = make_certificates(tmp_path)
    env = {
        **home,
        "TEMPORAL_ADDRESS": "127.0.0.5:5",
        "TEMPORAL_NAMESPACE": "shop.a1b2c",
        "TEMPORAL_API_KEY": SECRET,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(certificates.client_cert),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(certificates.client_key),
    }
    resolved = resolve(environ=env)
    assert resolved.namespace == "shop.a1b2c"
    other = connection_for(resolved, "csp-other")
    assert other.namespace == "csp-other"
    assert other.connect_kwargs() == {**resolved.connect_kwargs(), "namespace": "csp-other"}
    assert (other.address_source, other.profile) == (resolved.address_source, resolved.profile)
    assert connection_for(resolved) is resolved and connection_for(resolved, "") is resolved
    # An address, or nothing, is resolved over the settings, the namespace over theirs.
    assert connection_for(None, "csp-other", environ=env) == other
    assert connection_for("127.0.0.4:4", environ=env).namespace == "shop.a1b2c"


def test_a_profile_and_the_environment_over_it(home: dict[str, str], tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    config = profile_file(
        tmp_path,
        f"""
[profile.default]
address = "127.0.0.9:9"
[profile.cloud]
address = "127.0.0.5:5"
namespace = "shop.a1b2c"
api_key = "{SECRET}"
[profile.cloud.tls]
server_ca_cert_path = "{certificates.ca}"
client_cert_path = "{certificates.client_cert}"
client_key_path = "{certificates.client_key}"
[profile.cloud.grpc_meta]
x-team = "orders"
""",
    )
    env = {**home, "TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "cloud"}
    connection = resolve(environ=env)
    assert (connection.target_host, connection.namespace) == ("127.0.0.5:5", "shop.a1b2c")
    assert connection.address_source == f"profile cloud in {config}"
    assert connection.api_key == SECRET
    assert isinstance(connection.tls, TLSConfig)
    assert connection.tls.client_cert == certificates.client_cert.read_bytes()
    assert connection.tls.client_private_key == certificates.client_key.read_bytes()
    assert connection.tls.server_root_ca_cert == certificates.ca.read_bytes()
    assert connection.rpc_metadata == {"x-team": "orders"}
    assert connection.offers_client_certificate
    # Nothing secret in its repr (logs, tracebacks).
    assert SECRET not in repr(connection) and "PRIVATE KEY" not in repr(connection)
    # The environment overrides the profile, setting by setting.
    overridden = resolve(environ={**env, "TEMPORAL_ADDRESS": "127.0.0.6:6"})
    assert overridden.target_host == "127.0.0.6:6" and overridden.namespace == "shop.a1b2c"
    assert overridden.api_key == SECRET
    # The default profile when none is named.
    default = resolve(environ={**home, "TEMPORAL_CONFIG_FILE": str(config)})
    assert default.target_host == "127.0.0.9:9" and default.tls is False


def test_an_api_key_turns_tls_on_an_empty_one_is_none(home: dict[str, str]) -> None:
    assert resolve(environ={**home, "TEMPORAL_API_KEY": SECRET}).tls is True
    empty = resolve(environ={**home, "TEMPORAL_API_KEY": ""})
    assert empty.api_key is None and empty.tls is False
    off = resolve(environ={**home, "TEMPORAL_API_KEY": SECRET, "TEMPORAL_TLS": "false"})
    assert off.tls is False


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and SECRET not in text
    return text


def test_a_missing_tls_file_names_its_variable(home: dict[str, str], tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    env = {
        **home,
        "TEMPORAL_ADDRESS": "127.0.0.1:7233",
        "TEMPORAL_API_KEY": SECRET,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "absent.pem"),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(certificates.client_key),
    }
    with pytest.raises(TemporalSettingsInvalid) as invalid:
        resolve(environ=env)
    said = one_line(invalid.value)
    assert said.startswith("TEMPORAL_TLS_CLIENT_CERT_PATH names ") and "absent.pem" in said
    with pytest.raises(TemporalSettingsInvalid) as invalid:
        resolve(
            environ={
                **env,
                "TEMPORAL_TLS_CLIENT_CERT_PATH": str(certificates.client_cert),
                "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "no-ca.pem"),
            }
        )
    assert one_line(invalid.value).startswith("TEMPORAL_TLS_SERVER_CA_CERT_PATH names ")


def test_a_missing_file_of_a_profile_names_the_key_and_the_file(
    home: dict[str, str], tmp_path: Path
) -> None:
    config = profile_file(
        tmp_path,
        f'[profile.default]\napi_key = "{SECRET}"\n'
        f'[profile.default.tls]\nclient_cert_path = "{tmp_path / "absent.pem"}"\n'
        f'client_key_path = "{tmp_path / "absent.key"}"\n',
    )
    with pytest.raises(TemporalSettingsInvalid) as invalid:
        resolve(environ={**home, "TEMPORAL_CONFIG_FILE": str(config)})
    said = one_line(invalid.value)
    assert "client_cert_path of profile default" in said and str(config) in said


def test_a_certificate_without_its_key(home: dict[str, str], tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    with pytest.raises(TemporalSettingsInvalid) as invalid:
        resolve(environ={**home, "TEMPORAL_TLS_CLIENT_CERT_PATH": str(certificates.client_cert)})
    said = one_line(invalid.value)
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in said and "TEMPORAL_TLS_CLIENT_KEY_PATH" in said


def test_config_file_and_profile_problems_are_one_line(
    home: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(TemporalSettingsInvalid) as invalid:
        resolve(environ={**home, "TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml")})
    assert one_line(invalid.value).startswith("TEMPORAL_CONFIG_FILE names ")
    config = profile_file(tmp_path, '[profile.default]\naddress = "127.0.0.1:7233"\n')
    with pytest.raises(TemporalSettingsInvalid) as invalid:
        resolve(environ={**home, "TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "nope"})
    assert "TEMPORAL_PROFILE=nope" in one_line(invalid.value)
    # A file that is not TOML: where and why, never its lines (an API key may be on one).
    broken = profile_file(tmp_path, f'[profile.default\napi_key = "{SECRET}"\n')
    with pytest.raises(TemporalSettingsInvalid) as invalid:
        resolve(environ={**home, "TEMPORAL_CONFIG_FILE": str(broken)})
    assert str(broken) in one_line(invalid.value)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_unreachable_address_is_one_line_naming_where_it_came_from(
    home: dict[str, str],
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    connection = resolve(environ={**home, "CSP_TEMPORAL_ADDRESS": address})
    with pytest.raises(TemporalUnreachable) as refused:
        await connect_client(connection)
    said = one_line(refused.value)
    assert said == (
        f"Temporal at {address} (address from CSP_TEMPORAL_ADDRESS) cannot be reached: "
        "connection refused."
    )


async def test_plain_text_stays_for_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The development switch is judged on the resolved address, wherever it came from."""
    for name in ("CSP_CODEC_KEYS", "CSP_CODEC_ACTIVE_KEY", "CSP_TEMPORAL_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(PLAINTEXT_SWITCH, PLAINTEXT_CONSENT)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.example.com:7233")
    with pytest.raises(EncryptionNotConfigured) as refused:
        await Storefront.connect()
    assert "temporal.example.com:7233" in str(refused.value)


async def test_payload_keys_not_as_documented_are_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Malformed `CSP_CODEC_KEYS` are the storefront's configuration error, said in a sentence
    naming the variable and no key material, never a bare ValueError; nothing was sent."""
    monkeypatch.setenv("CSP_CODEC_KEYS", "k1=bm90LTMyLWJ5dGVz")  # base64, but not 32 bytes
    monkeypatch.delenv("CSP_CODEC_ACTIVE_KEY", raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    with pytest.raises(EncryptionNotConfigured) as refused:
        await Storefront.connect()
    assert "CSP_CODEC_KEYS" in str(refused.value)
    assert "bm90LTMyLWJ5dGVz" not in str(refused.value)


def test_the_cli_names_a_missing_certificate_file(tmp_path: Path) -> None:
    env = {
        **without(os.environ, "TEMPORAL_", "CSP_TEMPORAL_"),
        "TEMPORAL_ADDRESS": "127.0.0.1:7233",
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "absent.pem"),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "absent.key"),
        "TEMPORAL_API_KEY": SECRET,
    }
    for command in (["order", "status", "shop-1"], ["worker"]):
        result = subprocess.run(
            [csp_orders(), *command], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "TEMPORAL_TLS_CLIENT_CERT_PATH names " in lines[0] and SECRET not in lines[0]
