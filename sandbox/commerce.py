"""Commerce: carts, checkout (with Microsoft's purchase rules), orders and subscriptions."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from sandbox import lifecycle
from sandbox.catalog import SEGMENTS_BY_QUALIFICATION, AvailabilityData, ProductData, SkuData
from sandbox.compliance import has_customer_agreement
from sandbox.core import Sandbox
from sandbox.customers import get_customer, mpa_not_signed
from sandbox.errors import (
    bad_request,
    conflict,
    forbidden,
    missing_field,
    not_found,
)
from sandbox.links import link
from sandbox.state import CartRecord, OrderLineRecord, OrderRecord, SubscriptionRecord

SEAT_POOL_LIMIT = 300
# Statuses that hold one of Microsoft's per-customer asset slots. A cancelled (deleted)
# subscription holds its slot until it is deprovisioned.
_HOLDS_ASSET = ("active", "pending", "suspended", "disabled", "deleted")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------ carts


def create_cart(sb: Sandbox, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
    get_customer(sb, customer_id)
    lines = body.get("lineItems")
    if not isinstance(lines, list) or not lines:
        raise missing_field("lineItems")
    checked = [_check_line(sb, line, n) for n, line in enumerate(lines)]
    cart = CartRecord(
        id=sb.new_id(), customer_id=customer_id, line_items=checked, created_at=sb.now()
    )
    sb.state.carts[cart.id] = cart
    return cart_json(cart)


def _check_line(sb: Sandbox, line: Any, n: int) -> dict[str, Any]:
    if not isinstance(line, dict):
        raise bad_request(2000, f"lineItems[{n}] must be an object.")
    catalog_item_id = line.get("catalogItemId")
    if not isinstance(catalog_item_id, str):
        raise missing_field(f"lineItems[{n}].catalogItemId")
    product, sku, _ = sb.catalog.resolve(catalog_item_id, purchase=True)
    quantity = line.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise missing_field(f"lineItems[{n}].quantity")
    if not sku.minimum_quantity <= quantity <= sku.maximum_quantity:
        raise bad_request(
            2002,
            f"Quantity {quantity} for {sku.title} must be between {sku.minimum_quantity} and "
            f"{sku.maximum_quantity}.",
        )
    billing_cycle = str(line.get("billingCycle", "")).lower()
    term = str(line.get("termDuration", "P1M"))
    if not sb.catalog.supports_term(billing_cycle, term):
        raise bad_request(
            400039,
            f"Billing cycle '{billing_cycle}' with term {term} is not offered for {product.id}.",
        )
    for p in line.get("participants") or []:
        if isinstance(p, dict) and p.get("key") == "transaction_reseller":
            reseller = sb.state.resellers.get(str(p.get("value")))
            if reseller is None:
                raise bad_request(2200, f"MPN ID {p.get('value')} was not found.")
            if not reseller.agreement_signed:
                raise mpa_not_signed(reseller.mpn_id)
    return {
        "id": line.get("id", n),
        "catalogItemId": catalog_item_id.upper(),
        "friendlyName": line.get("friendlyName") or sku.title,
        "quantity": quantity,
        "currencyCode": "USD",
        "billingCycle": billing_cycle,
        "termDuration": term,
        "participants": line.get("participants") or [],
        "orderGroup": billing_cycle,
        "provisioningContext": line.get("provisioningContext") or {},
    }


def cart_json(cart: CartRecord) -> dict[str, Any]:
    return {
        "id": cart.id,
        "creationTimestamp": _iso(cart.created_at),
        "lastModifiedTimestamp": _iso(cart.created_at),
        "expirationTimestamp": _iso(cart.created_at + 7 * 24 * 3600),
        "lastModifiedUser": "partner-admin",
        "status": cart.status,
        "lineItems": cart.line_items,
        "links": {"self": link(f"/customers/{cart.customer_id}/carts/{cart.id}")},
        "attributes": {"objectType": "Cart"},
    }


# ------------------------------------------------------------ checkout


def checkout(sb: Sandbox, customer_id: str, cart_id: str) -> dict[str, Any]:
    customer = get_customer(sb, customer_id)
    cart = sb.state.carts.get(cart_id)
    if cart is None or cart.customer_id != customer_id:
        raise not_found(800008, f"Cart {cart_id} was not found.")
    if cart.status != "Active":
        raise bad_request(800065, "The cart has already been checked out.")
    if not has_customer_agreement(sb, customer_id):
        raise forbidden(
            13605,
            "The customer has not accepted the Microsoft Customer Agreement; confirm the "
            "customer's acceptance before purchase.",
        )
    resolved = [
        (line, *sb.catalog.resolve(line["catalogItemId"], purchase=True))
        for line in cart.line_items
    ]
    approved = {
        q.qualification for q in customer.qualifications if q.vetting_status == "Approved"
    } or {"None"}
    allowed_segments = set().union(*(SEGMENTS_BY_QUALIFICATION.get(q, set()) for q in approved))
    for line, product, _sku, availability in resolved:
        _check_purchase(sb, customer_id, line, product, availability, allowed_segments)
    _check_asset_limits(sb, customer_id, resolved)

    now = sb.now()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in cart.line_items:
        groups[line["billingCycle"]].append(line)
    orders = []
    for billing_cycle, lines in groups.items():
        order = OrderRecord(
            id=sb.new_id(),
            customer_id=customer_id,
            billing_cycle=billing_cycle,
            line_items=[],
            created_at=now,
            ready_at=now + sb.settings.provisioning_delay_seconds,
        )
        for number, line in enumerate(lines):
            product, sku, _ = sb.catalog.resolve(line["catalogItemId"])
            reseller = next(
                (
                    p["value"]
                    for p in line["participants"]
                    if p.get("key") == "transaction_reseller"
                ),
                None,
            )
            sub = SubscriptionRecord(
                id=sb.new_id(),
                customer_id=customer_id,
                offer_id=line["catalogItemId"],
                offer_name=sku.title,
                friendly_name=line["friendlyName"],
                quantity=line["quantity"],
                status="pending",
                billing_cycle=billing_cycle,
                term_duration=line["termDuration"],
                order_id=order.id,
                partner_id=reseller,
                created_at=now,
                etag=sb.new_id(),
            )
            lifecycle.start_term(sub, now)
            sb.state.subscriptions[sub.id] = sub
            order.line_items.append(
                OrderLineRecord(
                    line_item_number=number,
                    offer_id=line["catalogItemId"],
                    friendly_name=line["friendlyName"],
                    quantity=line["quantity"],
                    term_duration=line["termDuration"],
                    subscription_id=sub.id,
                    partner_id_on_record=reseller,
                )
            )
        sb.state.orders[order.id] = order
        cart.order_ids.append(order.id)
        orders.append(order_json(order))
    cart.status = "Ordered"
    return {"orders": orders, "orderErrors": [], "attributes": {"objectType": "CartCheckoutResult"}}


def _check_purchase(
    sb: Sandbox,
    customer_id: str,
    line: dict[str, Any],
    product: ProductData,
    availability: AvailabilityData,
    allowed_segments: set[str],
) -> None:
    if product.rules.end_of_sale:
        raise forbidden(
            2091, f"The offer {line['catalogItemId']} is no longer available for purchase."
        )
    if availability.segment not in allowed_segments:
        raise bad_request(
            800086,
            f"The customer tenant lacks the required tags to purchase {product.title} "
            f"({availability.segment} segment).",
        )


def _check_asset_limits(
    sb: Sandbox,
    customer_id: str,
    resolved: list[tuple[dict[str, Any], ProductData, SkuData, AvailabilityData]],
) -> None:
    existing = [
        s
        for s in sb.state.customer_subscriptions(customer_id)
        if s.status in _HOLDS_ASSET and not s.deprovisioned
    ]
    new_per_product: dict[str, int] = defaultdict(int)
    new_seats: dict[str, int] = defaultdict(int)
    for line, product, _sku, _availability in resolved:
        new_per_product[product.id] += 1
        if product.rules.seat_pool:
            new_seats[product.rules.seat_pool] += int(line["quantity"])
    for product_id, count in new_per_product.items():
        limit = sb.catalog.product(product_id).rules.max_subscriptions_per_customer
        if limit is None:
            continue
        held = sum(1 for s in existing if s.offer_id.split(":")[0] == product_id)
        if held + count > limit:
            raise forbidden(
                800089,
                f"The requested number of {count} asset(s) exceeded the remaining limit of "
                f"{max(0, limit - held)} assets allowed per customer.",
            )
    for pool, seats in new_seats.items():
        held = _pool_seats(sb, existing, pool)
        if held + seats > SEAT_POOL_LIMIT:
            raise forbidden(
                800088,
                f"The purchase exceeds the limit of {SEAT_POOL_LIMIT} seats across Business "
                f"plans ({held} held, {seats} requested).",
            )


def _pool_seats(sb: Sandbox, subs: list[SubscriptionRecord], pool: str) -> int:
    return sum(
        s.quantity
        for s in subs
        if s.status in ("active", "pending", "suspended")
        and sb.catalog.product(s.offer_id.split(":")[0]).rules.seat_pool == pool
    )


# ------------------------------------------------------------ orders


def get_order(sb: Sandbox, customer_id: str, order_id: str) -> OrderRecord:
    get_customer(sb, customer_id)
    order = sb.state.orders.get(order_id)
    if order is None or order.customer_id != customer_id:
        raise not_found(20000, f"Order {order_id} was not found.")
    return order


def order_json(order: OrderRecord) -> dict[str, Any]:
    done = order.status == "completed"
    here = f"/customers/{order.customer_id}/orders/{order.id}"
    lines = []
    for line in order.line_items:
        product_id, sku_id, availability_id = line.offer_id.split(":")
        item: dict[str, Any] = {
            "lineItemNumber": line.line_item_number,
            "offerId": line.offer_id,
            "friendlyName": line.friendly_name,
            "quantity": line.quantity,
            "termDuration": line.term_duration,
            "transactionType": "New",
            "links": {
                "product": link(f"/products/{product_id}?country=US"),
                "sku": link(f"/products/{product_id}/skus/{sku_id}?country=US"),
                "availability": link(
                    f"/products/{product_id}/skus/{sku_id}/availabilities/{availability_id}"
                    "?country=US"
                ),
                "provisioningStatus": link(f"{here}/provisioningstatus"),
            },
        }
        if line.partner_id_on_record:
            item["partnerIdOnRecord"] = line.partner_id_on_record
        if done:
            item["subscriptionId"] = line.subscription_id
            item["links"]["subscription"] = link(
                f"/customers/{order.customer_id}/subscriptions/{line.subscription_id}"
            )
        lines.append(item)
    return {
        "id": order.id,
        "alternateId": order.id.replace("-", "")[:12],
        "referenceCustomerId": order.customer_id,
        "billingCycle": order.billing_cycle,
        "currencyCode": "USD",
        "currencySymbol": "$",
        "lineItems": lines,
        "creationDate": _iso(order.created_at),
        "status": order.status,
        "transactionType": "UserPurchase",
        "links": {"self": link(here), "provisioningStatus": link(f"{here}/provisioningstatus")},
        "attributes": {"objectType": "Order"},
    }


def provisioning_status(order: OrderRecord) -> list[dict[str, Any]]:
    status = "Fulfilled" if order.status == "completed" else "PrefulfillmentPending"
    return [
        {
            "lineItemNumber": line.line_item_number,
            "status": status,
            "quantity": line.quantity,
            "quantityProvisioningInformation": [],
            "resourceUri": (
                f"/customers/{order.customer_id}/subscriptions/{line.subscription_id}"
                if status == "Fulfilled"
                else None
            ),
            "attributes": {"objectType": "LineItemProvisioningStatus"},
        }
        for line in order.line_items
    ]


# ------------------------------------------------------------ subscriptions


def subscription_json(s: SubscriptionRecord, now: float) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": s.id,
        "offerId": s.offer_id,
        "entitlementId": s.id,
        "offerName": s.offer_name,
        "friendlyName": s.friendly_name,
        "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
        "quantity": s.quantity,
        "unitType": "Licenses",
        "hasPurchasableAddons": False,
        "isTrial": False,
        "billingType": "license",
        "isMicrosoftProduct": True,
        "attentionNeeded": False,
        "actionTaken": False,
        "contractType": "subscription",
        "publisherName": "Microsoft Corporation",
        "status": s.status,
        "billingCycle": s.billing_cycle,
        "termDuration": s.term_duration,
        "orderId": s.order_id,
        "creationDate": _iso(s.created_at),
        "effectiveStartDate": _iso(s.created_at),
        # New commerce: autoRenewEnabled, commitmentEndDate, cancellationAllowedUntilDate,
        # refundOptions and refundableQuantity (the seats that can still be taken back).
        **lifecycle.window_json(s, now),
        "links": {"self": link(f"/customers/{s.customer_id}/subscriptions/{s.id}")},
        "attributes": {"etag": s.etag, "objectType": "Subscription"},
    }
    if s.partner_id:
        body["partnerId"] = s.partner_id
    return body


def get_subscription(sb: Sandbox, customer_id: str, subscription_id: str) -> SubscriptionRecord:
    get_customer(sb, customer_id)
    sub = sb.state.subscriptions.get(subscription_id)
    if sub is None or sub.customer_id != customer_id:
        raise not_found(20003, f"Subscription {subscription_id} was not found.")
    return sub


def change_subscription(
    sb: Sandbox,
    customer_id: str,
    subscription_id: str,
    body: dict[str, Any],
    if_match: str | None,
) -> dict[str, Any] | Response:
    sub = get_subscription(sb, customer_id, subscription_id)
    if if_match and if_match != sub.etag:
        raise bad_request(
            2055, "The ETag is no longer valid: the subscription changed since it was read."
        )
    lifecycle.refuse_if_deleted(sub)
    if sub.status == "pending":
        raise conflict(800060, "An order for this subscription is still in progress.")
    if str(body.get("status", "")).lower() == "deleted":
        # A cancellation: the whole subscription with its status set to deleted.
        lifecycle.cancel(sub, sb.now())
        return subscription_json(sub, sb.now())
    quantity = body.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise missing_field("quantity")
    if sub.status != "active":
        # 800091 is Microsoft's code for a suspended one; 800044 (others) is ours, undocumented.
        raise bad_request(
            800091 if sub.status == "suspended" else 800044,
            f"The subscription is {sub.status}; only active ones change.",
        )
    product, sku, _ = sb.catalog.resolve(sub.offer_id)
    if quantity < sku.minimum_quantity:
        raise bad_request(2002, f"Quantity must be at least {sku.minimum_quantity}.")
    if quantity > sku.maximum_quantity:
        raise forbidden(
            800067,
            f"The quantity {quantity} exceeds the {sku.maximum_quantity} seats allowed per "
            "subscription.",
        )
    if quantity < sub.quantity:
        lifecycle.check_reduction(sub, quantity, sb.now())
    if product.rules.seat_pool and quantity > sub.quantity:
        held = _pool_seats(
            sb, sb.state.customer_subscriptions(customer_id), product.rules.seat_pool
        )
        if held - sub.quantity + quantity > SEAT_POOL_LIMIT:
            raise forbidden(
                800088,
                f"The change exceeds the limit of {SEAT_POOL_LIMIT} seats across Business plans.",
            )
    delay = sb.settings.quantity_change_delay_seconds
    if quantity != sub.quantity and delay > 0:
        # Carried out later, as Partner Center does with changes it runs in the background:
        # 202, no body; the subscription shows the new quantity once it is done.
        sub.pending_quantity, sub.quantity_ready_at = quantity, sb.now() + delay
        where = f"/v1/customers/{customer_id}/subscriptions/{subscription_id}"
        return Response(status_code=202, headers={"Location": where})
    if quantity != sub.quantity:
        lifecycle.change_quantity(sub, quantity, sb.now())
        sub.etag = sb.new_id()
    return subscription_json(sub, sb.now())
