"""The engine configuration file: a dumped configuration loads again; the worker's acceptance
of unencrypted orders cannot be turned on from a file (only the development switch does it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ordering.config import load_config


def test_a_dumped_configuration_loads_again(tmp_path: Path) -> None:
    config = load_config()
    file = tmp_path / "engine.json"
    file.write_text(config.model_dump_json())
    assert load_config(file) == config
    file.write_text(config.model_dump_json(by_alias=True))
    assert load_config(file) == config


@pytest.mark.parametrize("key", ["acceptsUnencryptedOrders", "accepts_unencrypted_orders"])
def test_unencrypted_orders_cannot_be_accepted_by_a_file(tmp_path: Path, key: str) -> None:
    data = json.loads(load_config().model_dump_json(by_alias=True))
    data[key] = True
    file = tmp_path / "engine.json"
    file.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="cannot be turned on in a configuration file"):
        load_config(file)
