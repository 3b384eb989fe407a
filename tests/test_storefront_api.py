"""The storefront API's parts that need no Temporal: its OpenAPI document as committed, API keys
(hashed, constant-time, rotatable), the storefronts file and the rate limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.payloads import KeyRing
from workers.api.page_tokens import PageTokens
from workers.api.rate_limit import RateLimiter
from workers.api.server import openapi_text
from workers.storefronts import (
    StorefrontDirectory,
    StorefrontsNotConfigured,
    add_api_key,
    key_digest,
    load_storefronts,
    new_api_key,
    revoke_api_key,
)

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "openapi.json"


def test_the_committed_openapi_document_is_the_served_one() -> None:
    assert COMMITTED.read_text() == openapi_text(), (
        "docs/openapi.json differs from the API's document: "
        ".venv/bin/csp-orders api --openapi > docs/openapi.json"
    )


def test_the_openapi_document_is_3_1_with_problem_details_and_no_framework_default() -> None:
    document = json.loads(openapi_text())
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ProblemDetails" in schemas
    assert {"OrderDocument", "TaxIdSubmission", "LicenceRequest", "OrderValidation"} <= set(schemas)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"] == {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/ProblemDetails"}
                        }
                    }, (
                        path,
                        method,
                        status,
                    )
    expected = {
        ("post", "/v1/orders"),
        ("get", "/v1/orders"),
        ("get", "/v1/orders/{order_id}"),
        ("post", "/v1/orders/{order_id}/tax-id"),
        ("post", "/v1/orders/{order_id}/cancel"),
        ("post", "/v1/orders/{order_id}/relationship-accepted"),
        ("post", "/v1/orders/validate"),
        ("post", "/v1/licence-requests"),
        ("get", "/v1/licence-requests/{request_id}"),
        ("post", "/v1/orders/{order_id}/lines/{line}/cancel-subscription"),
        ("post", "/v1/orders/{order_id}/lines/{line}/reduce"),
        ("post", "/v1/orders/{order_id}/payment-failed"),
        ("get", "/healthz"),
        ("get", "/readyz"),
    }
    served = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert served == expected
    # the webhooks a storefront receives, with their body's schema
    webhook = document["webhooks"]["storefront-event"]["post"]
    assert webhook["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StorefrontEvent"
    }


def test_the_file_keeps_only_hashes_and_a_key_is_found_by_it(tmp_path: Path) -> None:
    path = tmp_path / "storefronts.json"
    key, entry = add_api_key(path, "shop-a", "k1")
    text = path.read_text()
    assert key not in text and key.split(".", 1)[1] not in text
    assert entry.sha256 == key_digest(key) and entry.sha256 in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    directory = load_storefronts(path)
    assert directory.storefront_of_key(key) == "shop-a"
    assert directory.storefront_of_key(key + "x") is None
    assert directory.storefront_of_key("csp_k1.") is None
    assert directory.storefront_of_key("") is None
    assert directory.storefront_of_key("csp_\xe9.abc") is None  # never an error
    # the right secret under another key id is not that key
    assert directory.storefront_of_key(key.replace("csp_k1.", "csp_k2.")) is None


def test_keys_rotate_several_at_once_and_revoked_ones_stop(tmp_path: Path) -> None:
    path = tmp_path / "storefronts.json"
    old, _ = add_api_key(path, "shop-a", "old")
    new, _ = add_api_key(path, "shop-a", "new")
    other, _ = add_api_key(path, "shop-b", "old")
    directory = load_storefronts(path)
    assert [directory.storefront_of_key(k) for k in (old, new, other)] == [
        "shop-a",
        "shop-a",
        "shop-b",
    ]
    revoke_api_key(path, "shop-a", "old")
    directory = load_storefronts(path)
    assert directory.storefront_of_key(old) is None
    assert directory.storefront_of_key(new) == "shop-a"
    assert directory.storefront_of_key(other) == "shop-b"
    with pytest.raises(StorefrontsNotConfigured, match="has no key old"):
        revoke_api_key(path, "shop-a", "old")
    with pytest.raises(StorefrontsNotConfigured, match="has a key new already"):
        add_api_key(path, "shop-a", "new")
    with pytest.raises(StorefrontsNotConfigured, match="storefront id"):
        add_api_key(path, "Shop A", "k")


def test_a_bad_storefronts_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "storefronts.json"
    path.write_text('{"storefronts": {"shop-a": {"api_keys": [{"id": "k", "sha256": "plain"}]}}}')
    with pytest.raises(StorefrontsNotConfigured) as error:
        load_storefronts(path)
    assert str(path) in str(error.value) and "sha256" in str(error.value)
    assert "plain" not in str(error.value)
    path.write_text("not json")
    with pytest.raises(StorefrontsNotConfigured, match="not JSON"):
        load_storefronts(path)
    with pytest.raises(StorefrontsNotConfigured, match="cannot read"):
        load_storefronts(tmp_path / "missing.json")


def test_a_webhook_secret_comes_from_the_environment_and_must_be_there() -> None:
    directory = StorefrontDirectory.model_validate(
        {
            "storefronts": {
                "shop-a": {"webhook": {"url": "https://shop.example/h", "secret_env": "SHOP_A_WH"}}
            }
        }
    )
    with pytest.raises(StorefrontsNotConfigured, match="SHOP_A_WH"):
        directory.webhook_endpoints({})
    endpoint = directory.webhook_endpoints({"SHOP_A_WH": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    assert endpoint["shop-a"].url == "https://shop.example/h"
    assert "MfKQ" not in repr(endpoint["shop-a"])


def test_the_rate_limit_allows_a_minutes_allowance_then_says_when() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take("a", 3) for _ in range(3)] == [None, None, None]
    assert limiter.take("a", 3) == 20  # one request every 20 seconds
    assert limiter.take("b", 3) is None, "keys are limited separately"
    now[0] = 20.0
    assert limiter.take("a", 3) is None
    assert limiter.take("a", 3) == 20


def test_a_new_key_is_random_and_prefixed() -> None:
    first, entry = new_api_key("k")
    second, _ = new_api_key("k")
    assert first != second and first.startswith("csp_k.") and len(first) > 40
    assert entry.id == "k"


def test_a_page_token_opens_only_for_its_own_list_and_key() -> None:
    tokens = PageTokens.for_key_ring(KeyRing.generate("k1"))
    sealed = tokens.seal("shop-a|waiting_for_tax_id|", "eyJhIjoxfQ==")
    assert tokens.open("shop-a|waiting_for_tax_id|", sealed) == "eyJhIjoxfQ=="
    assert tokens.open("shop-b|waiting_for_tax_id|", sealed) is None, "another storefront's"
    assert tokens.open("shop-a||", sealed) is None, "another filter's"
    assert tokens.open("shop-a|waiting_for_tax_id|", "eyJhIjoyfQ==" + sealed[12:]) is None
    assert tokens.open("shop-a|waiting_for_tax_id|", "eyJhIjoxfQ==") is None, "not sealed"
    other = PageTokens.for_key_ring(KeyRing.generate("k1"))
    assert other.open("shop-a|waiting_for_tax_id|", sealed) is None, "another key ring's"
