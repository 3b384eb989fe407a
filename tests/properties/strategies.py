"""Generated order documents, tax IDs and addresses: valid, invalid, and nonsense."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from devtools.samples import OFFERS as SAMPLE_OFFERS

OFFERS = [*SAMPLE_OFFERS, "NOPE0000:0001"]  # the sample offers and one that does not exist
COUNTRIES = ["US", "GB", "DE", "RU", "PL", "BR", "TR", "UA", "IN", "IQ", "SA"]
junk = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=30),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
)

tax_ids = st.one_of(
    st.sampled_from(
        [
            "7707083893",
            "7707083890",
            "5260250274",
            "11222333000181",
            "4540536920",
            "32855961",
            "12345",
            "1234",
            "AAAPL1234C",
            "300000000000003",
        ]
    ),
    st.text(max_size=40),
    st.from_regex(r"[0-9]{4,14}", fullmatch=True),
)

addresses = st.fixed_dictionaries(
    {"country": st.sampled_from(COUNTRIES)},
    optional={
        "first_name": st.text(max_size=20),
        "last_name": st.text(max_size=20),
        "address_line1": st.sampled_from(["1 Microsoft Way", "Main Street", "", "10 Downing St"]),
        "city": st.sampled_from(["Redmond", "redmond", "Moscow", ""]),
        "postal_code": st.sampled_from(["98052", "125009", "00-950", "12", ""]),
        "state": st.sampled_from(["WA", "", "Bavaria"]),
    },
)


def lines() -> st.SearchStrategy[list[dict[str, Any]]]:
    line = st.fixed_dictionaries(
        {
            "offer": st.one_of(st.sampled_from(OFFERS), st.text(max_size=12)),
            "quantity": st.one_of(st.integers(-2, 400), junk),
            "billing_cycle": st.sampled_from(["monthly", "annual", "weekly"]),
        },
        optional={
            "segment": st.sampled_from(
                ["Commercial", "Education", "NonProfit", "Government", "Space"]
            )
        },
    )
    return st.lists(line, min_size=0, max_size=4)


@st.composite
def valid_orders(draw: st.DrawFn, order_id: str, prefix: str) -> Any:
    """Orders a storefront could send: valid documents, whatever the engine then decides."""
    country = draw(st.sampled_from(["US", "GB", "DE", "RU", "PL"]))
    postal = {"US": "98052", "GB": "SW1A 2AA", "DE": "10115", "RU": "125009", "PL": "00-950"}
    customer: dict[str, Any] = {
        "kind": "new",
        "company_name": "Generated Ltd",
        "domain_prefix": prefix,
        "email": "it@example.com",
        "phone": "+1 425 555 0100",
        "billing_address": {
            "first_name": "A",
            "last_name": "B",
            "address_line1": "1 Main Street",
            "city": "City",
            "postal_code": postal[country],
            "country": country,
        },
    }
    if draw(st.booleans()):
        customer["tax_id"] = draw(tax_ids)
    offers = draw(st.lists(st.sampled_from(OFFERS[:6]), min_size=1, max_size=3, unique=True))
    return {
        "order_id": order_id,
        "customer": customer,
        "lines": [
            {
                "offer": offer,
                "quantity": draw(st.integers(1, 20)),
                "billing_cycle": draw(st.sampled_from(["monthly", "annual"])),
            }
            for offer in offers
        ],
        "customer_agreement": {
            "first_name": "A",
            "last_name": "B",
            "email": "a@example.com",
            "accepted_at": "2026-11-20T00:00:00Z",
        },
    }


@st.composite
def orders(draw: st.DrawFn, order_id: str, prefix: str) -> Any:
    """Half valid orders, the rest with a fair share of mistakes, sometimes plain nonsense."""
    if draw(st.booleans()):
        return draw(valid_orders(order_id, prefix))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(junk, st.dictionaries(st.text(max_size=5), junk, max_size=3)))
    country = draw(st.sampled_from(COUNTRIES))
    customer = {
        "kind": draw(st.sampled_from(["new", "new", "new", "known", "alien"])),
        "company_name": draw(st.sampled_from(["Contoso", "", "Fabrikam"])),
        "domain_prefix": prefix if draw(st.booleans()) else draw(st.text(max_size=8)),
        "email": draw(st.sampled_from(["it@example.com", "nope"])),
        "phone": draw(st.sampled_from(["+1 425 555 0100", None])),
        "billing_address": {**draw(addresses), "country": country},
    }
    if draw(st.booleans()):
        customer["tax_id"] = draw(tax_ids)
    if customer["kind"] == "known":
        customer = {
            "kind": "known",
            "country": country,
            "customer_id": draw(
                st.sampled_from(["00000000-0000-4000-8000-000000000000", "not-a-guid"])
            ),
        }
    return {
        "order_id": order_id if draw(st.integers(0, 9)) else draw(st.text(max_size=10)),
        "customer": customer,
        "lines": draw(lines()),
        "customer_agreement": {
            "first_name": "A",
            "last_name": "B",
            "email": "a@example.com",
            "accepted_at": "2026-11-20T00:00:00Z",
        },
    }
