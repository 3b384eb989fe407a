"""An mTLS- and API-key-terminating gRPC proxy on loopback in front of the Temporal dev server,
as Temporal Cloud or a company's ingress would be: Debian's nginx, configured here, with a
throwaway certificate authority made by `cryptography`."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NGINX = "/usr/sbin/nginx"
# What Temporal Cloud answers a request without a valid API key: gRPC UNAUTHENTICATED.
UNAUTHENTICATED_MESSAGE = "Request unauthorized"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(directory: Path) -> Certificates:
    """A throwaway CA, a server certificate for 127.0.0.1 and localhost, and a client
    certificate, all signed by the CA, as PEM files in `directory`."""
    ca_key, server_key, client_key = _key(), _key(), _key()
    ca = _certificate("csp-orders test CA", ca_key, None, ca_key, ca=True)
    server = _certificate("localhost", server_key, ca.subject, ca_key, server=True)
    client = _certificate("csp-orders worker", client_key, ca.subject, ca_key)
    paths = Certificates(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    for certificate, path in (
        (ca, paths.ca),
        (server, paths.server_cert),
        (client, paths.client_cert),
    ):
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(server_key, paths.server_key)
    _write_key(client_key, paths.client_key)
    return paths


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def nginx_config(
    directory: Path, port: int, upstream: str, certificates: Certificates, api_key: str
) -> str:
    """nginx terminating TLS on 127.0.0.1:`port`: a client certificate signed by the CA is
    required (`ssl_verify_client on`), and `authorization: Bearer <api_key>` (else gRPC
    UNAUTHENTICATED, as Temporal Cloud answers); then gRPC on to `upstream` in plain text.
    Each request is logged to access.log (status, path, client certificate verdict)."""
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    return f"""
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    log_format grpc '$status $request_method $uri client-cert=$ssl_client_verify';
    access_log {directory / "access.log"} grpc;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {certificates.server_cert};
        ssl_certificate_key {certificates.server_key};
        ssl_client_certificate {certificates.ca};
        ssl_verify_client on;
        location / {{
            if ($http_authorization != "Bearer {api_key}") {{
                return 418;
            }}
            grpc_pass grpc://{upstream};
        }}
        error_page 418 = @unauthenticated;
        location @unauthenticated {{
            default_type application/grpc;
            add_header grpc-status 16 always;
            add_header grpc-message "{UNAUTHENTICATED_MESSAGE}" always;
            return 200 "";
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Proxy:
    address: str
    access_log: Path
    certificates: Certificates
    api_key: str

    def requests(self) -> list[str]:
        """The access log's lines so far."""
        if not self.access_log.exists():
            return []
        return self.access_log.read_text().splitlines()


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], error_log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx did not start: {error_log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx is not listening on 127.0.0.1:{port}: {error_log.read_text()}")


@contextlib.contextmanager
def grpc_proxy(directory: Path, upstream: str, api_key: str) -> Iterator[Proxy]:
    """nginx in the foreground, one process, everything (config, logs, pid, temp files) in
    `directory`; stopped when the block ends."""
    if not Path(NGINX).exists() and shutil.which("nginx") is None:
        raise AssertionError(
            f"nginx is needed for the TLS proxy test ({NGINX} not found): "
            "sudo apt-get install nginx (.ci/run installs it on CI)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    certificates = make_certificates(directory)
    port = free_loopback_port()
    config = directory / "nginx.conf"
    config.write_text(nginx_config(directory, port, upstream, certificates, api_key))
    error_log = directory / "error.log"
    process = subprocess.Popen(
        [
            NGINX if Path(NGINX).exists() else str(shutil.which("nginx")),
            "-p",
            str(directory),
            "-c",
            str(config),
            "-e",
            str(error_log),
            "-g",
            f"daemon off; master_process off; pid {directory / 'nginx.pid'};",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(port, process, error_log)
        yield Proxy(f"127.0.0.1:{port}", directory / "access.log", certificates, api_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
