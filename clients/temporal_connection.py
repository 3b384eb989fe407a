"""Where and how to reach Temporal: Temporal's standard client configuration.

The same settings the `temporal` CLI and every Temporal SDK read (`temporalio.envconfig`):
`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS`,
`TEMPORAL_TLS_SERVER_CA_CERT_PATH`, `TEMPORAL_TLS_CLIENT_CERT_PATH`,
`TEMPORAL_TLS_CLIENT_KEY_PATH`, `TEMPORAL_TLS_SERVER_NAME` (and their `_DATA` forms),
`TEMPORAL_GRPC_META_*`, and profiles in `temporal.toml` (`TEMPORAL_CONFIG_FILE`, default
`~/.config/temporalio/temporal.toml`; `TEMPORAL_PROFILE`, default `default`). The environment
overrides the profile; an explicit address or namespace (the CLI's `--address`) overrides both.
`CSP_TEMPORAL_ADDRESS` and `CSP_TEMPORAL_NAMESPACE`, this engine's former names, are read only
where neither `TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE` nor the profile say. Without any:
127.0.0.1:7233, namespace `default`, no TLS.

Every problem is one line naming the setting and the reason (`TemporalSettingsInvalid` before
connecting, `TemporalUnreachable` when Temporal or a proxy in front of it refuses); neither
ever contains the API key.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, DataSource
from temporalio.service import TLSConfig

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_PROFILE = "default"

ADDRESS = "TEMPORAL_ADDRESS"
NAMESPACE = "TEMPORAL_NAMESPACE"
API_KEY = "TEMPORAL_API_KEY"
CONFIG_FILE = "TEMPORAL_CONFIG_FILE"
PROFILE = "TEMPORAL_PROFILE"
SERVER_CA = "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
CLIENT_CERT = "TEMPORAL_TLS_CLIENT_CERT_PATH"
CLIENT_KEY = "TEMPORAL_TLS_CLIENT_KEY_PATH"
SERVER_NAME = "TEMPORAL_TLS_SERVER_NAME"
# This engine's former names, read only when Temporal's own are not set.
ADDRESS_ALIAS = "CSP_TEMPORAL_ADDRESS"
NAMESPACE_ALIAS = "CSP_TEMPORAL_NAMESPACE"

# The TLS files: (environment variable, the profile's key, the ClientConfigTLS attribute).
_TLS_FILES = (
    (SERVER_CA, "server_ca_cert_path", "server_root_ca_cert"),
    (CLIENT_CERT, "client_cert_path", "client_cert"),
    (CLIENT_KEY, "client_key_path", "client_private_key"),
)
_CLIENT_CERT_SETTINGS = (
    f"{CLIENT_CERT} and {CLIENT_KEY} (or the profile's tls client_cert_path and client_key_path)"
)


class TemporalSettingsInvalid(ValueError):
    """The connection settings cannot be used (a missing file, an unknown profile...); one
    line naming the setting. Nothing was sent."""


class TemporalUnreachable(RuntimeError):
    """Temporal, or a proxy in front of it, could not be reached or refused the connection;
    one line saying which and naming the setting to look at."""


@dataclass(frozen=True)
class TemporalConnection:
    """A resolved connection: `connect_kwargs()` are `Client.connect`'s. The API key, the
    TLS material and the gRPC metadata stay out of `repr`."""

    target_host: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    api_key: str | None = field(default=None, repr=False)
    tls: bool | TLSConfig = field(default=False, repr=False)
    rpc_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)
    address_source: str = "default"  # where the address came from, for messages
    profile: str = DEFAULT_PROFILE

    @property
    def uses_tls(self) -> bool:
        return self.tls is not False

    @property
    def offers_client_certificate(self) -> bool:
        return isinstance(self.tls, TLSConfig) and self.tls.client_cert is not None

    def connect_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `temporalio.client.Client.connect` for this connection."""
        return {
            "target_host": self.target_host,
            "namespace": self.namespace,
            "api_key": self.api_key,
            "tls": self.tls,
            "rpc_metadata": dict(self.rpc_metadata),
        }

    def describe(self) -> str:
        """`127.0.0.1:7233 (namespace default, TLS with a client certificate, API key)`."""
        parts = [f"namespace {self.namespace}"]
        if self.uses_tls:
            parts.append(
                "TLS with a client certificate" if self.offers_client_certificate else "TLS"
            )
        if self.api_key:
            parts.append("API key")
        return f"{self.target_host} ({', '.join(parts)})"


def _default_config_file(environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return str(Path(base) / "temporalio" / "temporal.toml")


def _short_config_error(error: Exception) -> str:
    """The loader's error in one line: its first line (where) and its last (why); the lines
    between quote the file, which may hold an API key."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if len(lines) == 1 or lines[-1].startswith("|"):
        return lines[0]
    return f"{lines[0]}: {lines[-1]}"


def _tls_files(
    tls: ClientConfigTLS, environ: Mapping[str, str], profile: str, config_file: str
) -> None:
    """Every TLS file named is readable, and a client certificate comes with its key."""
    for variable, key, attribute in _TLS_FILES:
        source: DataSource | None = getattr(tls, attribute)
        if not isinstance(source, Path):
            continue
        if environ.get(variable) == str(source):
            setting = variable
        else:
            setting = f"tls {key} of profile {profile} in {config_file}"
        if not source.is_file():
            raise TemporalSettingsInvalid(
                f"{setting} names {source}, which does not exist or is not a file; "
                "nothing was sent to Temporal."
            )
        if not os.access(source, os.R_OK):
            raise TemporalSettingsInvalid(
                f"{setting} names {source}, which this process cannot read; "
                "nothing was sent to Temporal."
            )
    if (tls.client_cert is None) != (tls.client_private_key is None):
        raise TemporalSettingsInvalid(
            f"A client certificate needs its private key and the key its certificate: set both "
            f"{_CLIENT_CERT_SETTINGS}; nothing was sent to Temporal."
        )


def resolve(
    address: str | None = None,
    namespace: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    address_source: str = "--address",
) -> TemporalConnection:
    """The connection the settings describe (module docstring). `address` and `namespace`,
    when given, override the environment and the profile; `address_source` is how messages
    name the override."""
    given = os.environ if environ is None else environ
    env = dict(given)
    # An empty variable is no setting (envconfig would take an empty API key as one).
    env = {name: value for name, value in env.items() if value or not name.startswith("TEMPORAL_")}
    config_file = env.get(CONFIG_FILE) or _default_config_file(env)
    profile_name = env.get(PROFILE) or DEFAULT_PROFILE
    if env.get(CONFIG_FILE) and not Path(env[CONFIG_FILE]).is_file():
        raise TemporalSettingsInvalid(
            f"{CONFIG_FILE} names {env[CONFIG_FILE]}, which does not exist or is not a file; "
            "nothing was sent to Temporal."
        )
    try:
        profile = ClientConfigProfile.load(override_env_vars=env)
    except Exception as error:  # the loader's own ConfigError: a bad file or an unknown profile
        setting = f"{PROFILE}={profile_name}" if "not found" in str(error) else config_file
        raise TemporalSettingsInvalid(
            f"Temporal's client configuration ({setting}) cannot be used: "
            f"{_short_config_error(error)}; nothing was sent to Temporal."
        ) from None
    # The former names stand in only where neither Temporal's variables nor the profile say:
    # a leftover CSP_TEMPORAL_ADDRESS never overrides a profile chosen with TEMPORAL_PROFILE.
    alias_address = None if profile.address else env.get(ADDRESS_ALIAS) or None
    alias_namespace = None if profile.namespace else env.get(NAMESPACE_ALIAS) or None
    if address:
        source = address_source
    elif given.get(ADDRESS):
        source = ADDRESS
    elif profile.address:
        source = f"profile {profile_name} in {config_file}"
    elif alias_address:
        source = ADDRESS_ALIAS
    else:
        source = "default"
    tls: bool | TLSConfig = False
    if profile.tls is not None:
        _tls_files(profile.tls, env, profile_name, config_file)
        tls = profile.tls.to_connect_tls_config()
    elif profile.api_key:
        tls = True  # an API key travels only over TLS (as envconfig decides)
    return TemporalConnection(
        target_host=address or profile.address or alias_address or DEFAULT_ADDRESS,
        namespace=namespace or profile.namespace or alias_namespace or DEFAULT_NAMESPACE,
        api_key=profile.api_key or None,
        tls=tls,
        rpc_metadata=dict(profile.grpc_meta),
        address_source=source,
        profile=profile_name,
    )


def connection_for(
    address: str | TemporalConnection | None = None,
    namespace: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> TemporalConnection:
    """The connection a caller of the SDK, the worker or the API asks for: `resolve(address,
    namespace)` over the settings, or a resolved `TemporalConnection` as it is; `namespace`,
    when given, overrides the connection's as it overrides the settings' (the CLI's
    `--namespace`), so that no caller's namespace is ever dropped."""
    if isinstance(address, TemporalConnection):
        return dataclasses.replace(address, namespace=namespace) if namespace else address
    return resolve(address, namespace, environ=environ)


def local_server(address: str) -> TemporalConnection:
    """A plain connection to a Temporal server this process tree started itself on loopback
    (the dev stack's, the benchmark's, the chaos harness's, the tests'): nothing of the
    environment's or a profile's settings, which describe the operator's own Temporal."""
    return TemporalConnection(target_host=address, address_source="the local server")


def local_server_environment(
    environ: Mapping[str, str], address: str, directory: Path
) -> dict[str, str]:
    """The environment of a process (a worker) of such a local stack: `environ` without
    Temporal's client settings or a Worker Deployment version (`TEMPORAL_*`, this engine's
    former names), the local server's `address`, and as its profiles file an empty one in
    `directory` (not the operator's `~/.config/temporalio/temporal.toml`)."""
    profiles = directory / "temporal.toml"
    if not profiles.exists():
        profiles.write_text("# no profile: this stack's processes talk to its own server\n")
    return {
        **{k: v for k, v in environ.items() if not k.startswith(("TEMPORAL_", "CSP_TEMPORAL_"))},
        ADDRESS: address,
        CONFIG_FILE: str(profiles),
    }


# ---------------------------------------------------------------------------- connecting


def _grpc_status(text: str) -> tuple[str | None, str | None]:
    code = re.search(r"code: (\w+)", text)
    message = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
    return (code.group(1) if code else None, message.group(1) if message else None)


def explain(connection: TemporalConnection, error: BaseException) -> str:
    """Why connecting failed, in one line naming the setting to look at; never the API key."""
    text = str(error)
    code, message = _grpc_status(text)
    where = f"Temporal at {connection.target_host} (address from {connection.address_source})"
    if re.search(r"ConnectionRefused|tcp connect error|dns error|No route|Unreachable", text):
        reason = "connection refused" if "ConnectionRefused" in text else "no connection"
        if "dns error" in text:
            reason = "the host name does not resolve"
        line = f"{where} cannot be reached: {reason}."
    elif code in ("Unauthenticated", "PermissionDenied") or re.search(r"\b40[13]\b", text):
        if connection.api_key:
            line = f"{where} refused the API key ({API_KEY}): it is not valid" + (
                f" or not allowed in namespace {connection.namespace}."
                if code == "PermissionDenied"
                else "."
            )
        else:
            line = f"{where} requires an API key: set {API_KEY}."
    elif re.search(r"InvalidCertificate\(NotValidForName|NotValidForName", text):
        line = (
            f"{where}: the server's certificate is not for this host name; set "
            f"{SERVER_NAME} to the name it is for."
        )
    elif "InvalidCertificate" in text:
        why = re.search(r"InvalidCertificate\((\w+)", text)
        line = (
            f"{where}: the server's certificate is not trusted "
            f"({why.group(1) if why else 'invalid'}); set {SERVER_CA} to the CA that signed it."
        )
    elif re.search(r"InconsistentKeys|KeyMismatch", text):
        line = (
            f"{where} not contacted: the client key ({CLIENT_KEY}) does not belong to the "
            f"client certificate ({CLIENT_CERT})."
        )
    elif re.search(r"NoCertificatesPresented|private key|PrivateKey|pem", text, re.IGNORECASE):
        line = (
            f"{where} not contacted: the client certificate or key is not PEM "
            f"({CLIENT_CERT}, {CLIENT_KEY})."
        )
    elif connection.uses_tls and re.search(
        r"CertificateRequired|HandshakeFailure|BadCertificate|UnknownCA|CertificateUnknown|"
        r"AccessDenied|400 Bad Request|\b49[56]\b|certificate required",
        text,
    ):
        if connection.offers_client_certificate:
            line = (
                f"{where} refused the client certificate ({CLIENT_CERT}): it is not signed by a "
                "CA the server trusts, or it has expired."
            )
        else:
            line = (
                f"{where} requires a client certificate (mutual TLS): set {_CLIENT_CERT_SETTINGS}."
            )
    elif connection.uses_tls and re.search(
        r"InvalidContentType|InvalidMessage|CorruptMessage", text
    ):
        line = (
            f"{where} does not answer TLS: turn TLS off with TEMPORAL_TLS=false, or check "
            f"{ADDRESS} (an API key turns TLS on)."
        )
    elif not connection.uses_tls and re.search(
        r"connection closed|Canceled|reset|h2 protocol error|http2 error", text
    ):
        line = (
            f"{where} closed the connection: it may require TLS (TEMPORAL_TLS=true, "
            f"{SERVER_CA}, {CLIENT_CERT}, {CLIENT_KEY})."
        )
    else:
        detail = message or re.sub(r"^Failed client connect: ", "", text)
        detail = re.sub(r",? metadata: MetadataMap \{.*", "", detail)
        line = f"{where} refused the connection: {detail[:200].rstrip('.')}."
    line = " ".join(line.split())
    if connection.api_key:
        line = line.replace(connection.api_key, f"<{API_KEY}>")
    return line


async def connect_client(connection: TemporalConnection, **options: Any) -> Client:
    """`Client.connect` for `connection` with `options` (data converter, runtime,
    interceptors...); a failure is a `TemporalUnreachable` whose message is `explain`'s."""
    try:
        return await Client.connect(**connection.connect_kwargs(), **options)
    except RuntimeError as error:  # the SDK's connection failure (its text, from the core)
        raise TemporalUnreachable(explain(connection, error)) from None
