"""The dev stack's secrets: made once, kept private in the state directory, reused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from clients.payloads import ACTIVE_VARIABLE, KEYS_VARIABLE
from devtools.dev import KEYS_FILE, dev_secrets
from workers.codec_server import TOKEN_VARIABLE


@pytest.fixture(autouse=True)
def no_secrets_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (KEYS_VARIABLE, ACTIVE_VARIABLE, TOKEN_VARIABLE):
        monkeypatch.delenv(name, raising=False)


def test_secrets_are_made_once_and_kept_private(tmp_path: Path) -> None:
    first = dev_secrets(tmp_path)
    file = tmp_path / KEYS_FILE
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert dev_secrets(tmp_path) == first
    assert len(first.codec_token) >= 32


def test_a_state_directory_from_before_the_codec_server_gets_a_token(tmp_path: Path) -> None:
    first = dev_secrets(tmp_path)
    file = tmp_path / KEYS_FILE
    file.write_text(
        "".join(line + "\n" for line in file.read_text().split() if TOKEN_VARIABLE not in line)
    )
    again = dev_secrets(tmp_path)
    assert again.keys.to_env() == first.keys.to_env()
    assert again.codec_token and TOKEN_VARIABLE in file.read_text()


def test_the_environment_wins_but_is_never_written_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = dev_secrets(tmp_path)
    stored = (tmp_path / KEYS_FILE).read_text()
    monkeypatch.setenv(TOKEN_VARIABLE, "from-the-environment")
    monkeypatch.setenv(KEYS_VARIABLE, "other=" + "A" * 43 + "=")
    monkeypatch.setenv(ACTIVE_VARIABLE, "other")
    used = dev_secrets(tmp_path)
    assert used.codec_token == "from-the-environment"
    assert used.keys.to_env()[ACTIVE_VARIABLE] == "other"
    assert (tmp_path / KEYS_FILE).read_text() == stored
    monkeypatch.delenv(TOKEN_VARIABLE)
    monkeypatch.delenv(KEYS_VARIABLE)
    monkeypatch.delenv(ACTIVE_VARIABLE)
    assert dev_secrets(tmp_path) == own
