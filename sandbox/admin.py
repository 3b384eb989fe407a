"""Admin and inspection paths (`/_sandbox/...`), separate from Partner Center's.

They let tests and the demo arrange the world (seed customers, subscriptions, qualifications,
resellers, existing tenants, address verdicts), play the customer's part (accept a reseller
relationship, decide vetting), move time, set faults, and read what happened at Microsoft
(call counts, a snapshot of everything held).

No authentication: the sandbox listens on loopback (`csp-orders sandbox --host` elsewhere warns
that anyone who reaches it can use these paths). What they refuse is a web page in the
operator's browser: they send no CORS headers, so no page can read an answer; they answer only
Host names of loopback or of the configured host (421 otherwise: a page whose name was rebound
to 127.0.0.1 gets nothing); a request that a browser marks as coming from another site
(`Origin`, `Sec-Fetch-Site`) is refused (403); a state-changing request with a body must be
`application/json` (415 otherwise), which no page can send across sites without a CORS
preflight, and the preflight gets no CORS answer. (A body-less request without a content type
is accepted, as the admin client sends them: a browser sends such a request with an `Origin`.)
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import commerce, lifecycle
from sandbox.compliance import address_key, qualification_json
from sandbox.core import CUSTOMER_AGREEMENT_TEMPLATE_ID, Sandbox
from sandbox.customers import accept_relationship, customer_json, get_customer
from sandbox.errors import PartnerCenterRefusal
from sandbox.faults import FaultSettings
from sandbox.state import (
    AddressVerdict,
    AgreementRecord,
    CustomerRecord,
    QualificationRecord,
    ResellerRecord,
    SubscriptionRecord,
    TenantRecord,
    term_seconds,
)

PREFIX = "/_sandbox"
B = TypeVar("B", bound=BaseModel)
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
READ_METHODS = frozenset({"GET", "HEAD"})
JSON_MEDIA_TYPE = "application/json"


class AdminModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SeedReseller(AdminModel):
    mpn_id: str
    tenant_id: str
    name: str = "Reseller"
    agreement_signed: bool = True
    mpa_check_error: int | None = Field(None, description="2204 or 2201")


class SeedTenant(AdminModel):
    domain: str
    company_name: str
    country: str = "US"


class SeedQualification(AdminModel):
    qualification: str
    vetting_status: str = "Approved"
    vetting_reason: str | None = None


class SeedCustomer(AdminModel):
    company_name: str
    domain: str
    country: str = "US"
    associated_partner_id: str | None = None
    qualifications: list[SeedQualification] = Field(default_factory=list)
    customer_agreement: bool = True


class SeedSubscription(AdminModel):
    catalog_item_id: str
    quantity: int = Field(ge=1)
    billing_cycle: str = "monthly"
    term_duration: str = "P1M"
    status: str = "active"
    age_days: float = Field(0, ge=0)
    deprovisioned: bool = False
    friendly_name: str | None = None
    partner_id: str | None = None
    auto_renew_enabled: bool = True


SUBSCRIPTION_STATUSES = ("active", "suspended", "disabled", "expired", "deleted")


class SubscriptionChange(AdminModel):
    """A change made at Microsoft behind the engine's back (in Partner Center's portal, by
    another tool, by Microsoft): no refund window opens, no Partner Center call is counted."""

    quantity: int | None = Field(None, ge=1)
    status: str | None = Field(None, description=", ".join(SUBSCRIPTION_STATUSES))
    auto_renew_enabled: bool | None = None


class Verdict(AdminModel):
    vetting_status: str
    vetting_reason: str | None = None


class SeedAddressVerdict(AdminModel):
    address: dict[str, Any]
    status: str
    validation_message: str | None = None
    suggested_addresses: list[dict[str, Any]] = Field(default_factory=list)


class ClockAdvance(AdminModel):
    seconds: float = Field(gt=0)


class ClockMove(AdminModel):
    """Move the sandbox's clock forward: by `advanceSeconds`, or to `now` (ISO 8601 with a
    zone); exactly one of the two."""

    advance_seconds: float | None = Field(None, gt=0)
    now: datetime | None = None


class LiveSettings(AdminModel):
    provisioning_delay_seconds: float | None = Field(None, ge=0)
    quantity_change_delay_seconds: float | None = Field(None, ge=0)
    vetting_delay_seconds: float | None = Field(None, ge=0)
    vetting_verdict: str | None = None
    token_lifetime_seconds: int | None = Field(None, ge=1)


Handler = Callable[[Sandbox, Request], Awaitable[Any]]


async def _parse(request: Request, model: type[B]) -> B:
    try:
        return model.model_validate(json.loads(await request.body() or b"{}"))
    except ValueError as exc:
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else {"msg": str(exc)}
        where = ".".join(str(p) for p in detail.get("loc", ())) or "body"
        raise PartnerCenterRefusal(400, 1, f"{where}: {detail['msg']}") from None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine's loopback."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def admin_host_names(host: str) -> frozenset[str]:
    """The Host names the admin paths answer for a sandbox listening on `host`: loopback's, and
    `host` itself unless it is a wildcard address (0.0.0.0, ::), which no client names."""
    names = set(LOOPBACK_NAMES)
    bare = host.strip("[]").lower()
    if bare and bare not in ("0.0.0.0", "::"):
        names.add(bare)
    return frozenset(names)


def _host_name(header: str) -> str:
    """The name in a Host header: `127.0.0.1:8088` -> `127.0.0.1`, `[::1]:8088` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _refused(status: int, message: str) -> Response:
    return JSONResponse({"code": status, "description": message}, status_code=status)


async def _foreign(request: Request, hosts: frozenset[str]) -> Response | None:
    """The answer to a request the admin paths do not take from where it comes, else None."""
    host = request.headers.get("host", "")
    if _host_name(host) not in hosts:
        return _refused(
            421, "The sandbox's admin paths answer loopback host names only (and its own host)."
        )
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if (origin is not None and origin.lower() != f"{request.url.scheme}://{host}".lower()) or (
        site is not None and site not in ("same-origin", "none")
    ):
        return _refused(403, "The sandbox's admin paths take no requests from other sites.")
    if request.method not in READ_METHODS:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE and (media_type or await request.body()):
            return _refused(
                415, "The sandbox's admin paths take a JSON body (Content-Type: application/json)."
            )
    return None


def _route(sb: Sandbox, method: str, path: str, handler: Handler, hosts: frozenset[str]) -> Route:
    async def endpoint(request: Request) -> Response:
        door = await _foreign(request, hosts)
        if door is not None:
            return door
        sb.advance()
        try:
            result = await handler(sb, request)
        except PartnerCenterRefusal as refusal:
            return JSONResponse(refusal.body(), status_code=refusal.status)
        if method != "GET":
            sb.changed()
            sb.persist()
        return result if isinstance(result, Response) else JSONResponse(result)

    return Route(PREFIX + path, endpoint, methods=[method])


async def _health(sb: Sandbox, request: Request) -> Any:
    return {"status": "ok", "partnerTenantId": sb.settings.partner_tenant_id}


async def _get_faults(sb: Sandbox, request: Request) -> Any:
    return sb.faults.settings.model_dump()


async def _put_faults(sb: Sandbox, request: Request) -> Any:
    try:
        settings = FaultSettings.model_validate(json.loads(await request.body() or b"{}"))
    except ValueError as exc:
        raise PartnerCenterRefusal(400, 1, f"invalid fault settings: {exc}") from None
    sb.faults.configure(settings)
    return settings.model_dump()


async def _settings(sb: Sandbox, request: Request) -> Any:
    live = await _parse(request, LiveSettings)
    for name, value in live.model_dump(exclude_unset=True).items():
        setattr(sb.settings, name, value)
    return sb.settings.model_dump(include=set(LiveSettings.model_fields))


async def _reset(sb: Sandbox, request: Request) -> Any:
    sb.store.reset()
    return {"status": "reset"}


async def _advance_clock(sb: Sandbox, request: Request) -> Any:
    body = await _parse(request, ClockAdvance)
    return _move_clock(sb, body.seconds)


def _move_clock(sb: Sandbox, seconds: float) -> Any:
    sb.state.clock.offset_seconds += seconds
    sb.advance()
    return _clock_json(sb)


def _clock_json(sb: Sandbox) -> Any:
    return {"now": sb.state.clock.now_dt().isoformat()}


async def _get_clock(sb: Sandbox, request: Request) -> Any:
    return _clock_json(sb)


async def _clock(sb: Sandbox, request: Request) -> Any:
    body = await _parse(request, ClockMove)
    if (body.advance_seconds is None) == (body.now is None):
        raise PartnerCenterRefusal(400, 1, "clock: give exactly one of advanceSeconds and now.")
    if body.now is not None:
        if body.now.tzinfo is None:
            raise PartnerCenterRefusal(400, 1, "now: give a time zone (e.g. Z or +00:00).")
        seconds = body.now.timestamp() - sb.now()
        if seconds < 0:
            raise PartnerCenterRefusal(
                400, 1, "now: the sandbox's clock only moves forward; it is already later."
            )
        return _move_clock(sb, seconds)
    assert body.advance_seconds is not None
    return _move_clock(sb, body.advance_seconds)


async def _reseller(sb: Sandbox, request: Request) -> Any:
    body = await _parse(request, SeedReseller)
    sb.state.resellers[body.mpn_id] = ResellerRecord(**body.model_dump())
    return body.model_dump(by_alias=True)


async def _tenant(sb: Sandbox, request: Request) -> Any:
    body = await _parse(request, SeedTenant)
    domain = body.domain.lower()
    existing = sb.state.tenants.get(domain)
    tenant = existing or TenantRecord(
        tenant_id=sb.new_id(), domain=domain, company_name=body.company_name, country=body.country
    )
    sb.state.tenants[domain] = tenant
    sb.state.taken_domains.add(domain)
    return {"tenantId": tenant.tenant_id, "domain": domain}


async def _accept(sb: Sandbox, request: Request) -> Any:
    customer = accept_relationship(sb, request.path_params["domain"])
    return {"customerId": customer.id}


async def _customer(sb: Sandbox, request: Request) -> Any:
    body = await _parse(request, SeedCustomer)
    now = sb.now()
    record = CustomerRecord(
        id=sb.new_id(),
        domain=body.domain.lower(),
        company_name=body.company_name,
        country=body.country.upper(),
        billing_profile={"companyName": body.company_name},
        associated_partner_id=body.associated_partner_id,
        qualifications=[
            QualificationRecord(
                qualification=q.qualification,
                vetting_status=q.vetting_status,
                vetting_reason=q.vetting_reason,
                created_at=now,
            )
            for q in body.qualifications
        ],
        agreements=[
            AgreementRecord(
                template_id=CUSTOMER_AGREEMENT_TEMPLATE_ID,
                type="MicrosoftCustomerAgreement",
                date_agreed=sb.state.clock.now_dt().date().isoformat(),
                primary_contact={
                    "firstName": "Seeded",
                    "lastName": "Contact",
                    "email": "seeded@example.invalid",
                },
            )
        ]
        if body.customer_agreement
        else [],
        created_at=now,
    )
    sb.state.customers[record.id] = record
    sb.state.taken_domains.add(record.domain)
    return customer_json(sb, record)


async def _subscription(sb: Sandbox, request: Request) -> Any:
    customer = get_customer(sb, request.path_params["customer_id"])
    body = await _parse(request, SeedSubscription)
    _, sku, _ = sb.catalog.resolve(body.catalog_item_id)
    created = sb.now() - body.age_days * 86400
    sub = SubscriptionRecord(
        id=sb.new_id(),
        customer_id=customer.id,
        offer_id=body.catalog_item_id.upper(),
        offer_name=sku.title,
        friendly_name=body.friendly_name or sku.title,
        quantity=body.quantity,
        status=body.status,
        billing_cycle=body.billing_cycle,
        term_duration=body.term_duration,
        order_id=None,
        partner_id=body.partner_id,
        created_at=created,
        deprovisioned=body.deprovisioned,
        etag=sb.new_id(),
        auto_renew=body.auto_renew_enabled,
    )
    # Bought `age_days` ago: its seats refundable for 168 h from then. Renewals before the
    # seeding are not played back: the current term ends at the next term boundary.
    lifecycle.start_term(sub, created)
    while sub.term_end <= sb.now():
        sub.term_end += term_seconds(sub.term_duration)
    sb.state.subscriptions[sub.id] = sub
    return commerce.subscription_json(sub, sb.now())


async def _change_subscription(sb: Sandbox, request: Request) -> Any:
    """Change a subscription as if somebody did it at Microsoft, not through the engine."""
    sub = commerce.get_subscription(
        sb, request.path_params["customer_id"], request.path_params["subscription_id"]
    )
    body = await _parse(request, SubscriptionChange)
    now = sb.now()
    if body.status is not None:
        if body.status not in SUBSCRIPTION_STATUSES:
            raise PartnerCenterRefusal(
                400, 1, f"status: one of {', '.join(SUBSCRIPTION_STATUSES)}, not {body.status!r}."
            )
        sub.status = body.status
        if body.status != "active":
            sub.refund_blocks = []
    if body.quantity is not None:
        if body.quantity < sub.quantity:
            lifecycle.take_back(sub, sub.quantity - body.quantity, now)
        sub.quantity = body.quantity
        sub.pending_quantity = sub.quantity_ready_at = None
    if body.auto_renew_enabled is not None:
        sub.auto_renew = body.auto_renew_enabled
    sub.etag = sb.new_id()
    return commerce.subscription_json(sub, now)


async def _qualification(sb: Sandbox, request: Request) -> Any:
    """Set a qualification's vetting verdict (the customer's vetting finishing at Microsoft)."""
    customer = get_customer(sb, request.path_params["customer_id"])
    kind = request.path_params["qualification"]
    body = await _parse(request, Verdict)
    record = next((q for q in customer.qualifications if q.qualification == kind), None)
    if record is None:
        record = QualificationRecord(qualification=kind, vetting_status="None", created_at=sb.now())
        customer.qualifications.append(record)
    record.vetting_status = body.vetting_status
    record.vetting_reason = body.vetting_reason
    record.decide_at = None
    return qualification_json(record)


async def _address(sb: Sandbox, request: Request) -> Any:
    body = await _parse(request, SeedAddressVerdict)
    sb.state.address_verdicts[address_key(body.address)] = AddressVerdict(
        status=body.status,
        validation_message=body.validation_message,
        suggested_addresses=body.suggested_addresses,
    )
    return {"status": body.status}


class CatalogItem(AdminModel):
    catalog_item_id: str


async def _replace_availability(sb: Sandbox, request: Request) -> Any:
    """Microsoft publishes a new availability id for the offer: the old one goes stale."""
    body = await _parse(request, CatalogItem)
    return {"catalogItemId": sb.catalog.replace_availability(body.catalog_item_id)}


class Hold(AdminModel):
    call: str = Field(description="METHOD and path template, as in the call counts")


async def _hold(sb: Sandbox, request: Request) -> Any:
    body = await _parse(request, Hold)
    sb.holds.hold(body.call)
    return sb.holds.held()


async def _held(sb: Sandbox, request: Request) -> Any:
    return sb.holds.held()


async def _release(sb: Sandbox, request: Request) -> Any:
    sb.holds.release()
    return {}


class ScriptedRefusal(AdminModel):
    call: str = Field(description="METHOD and path template, as in the call counts")
    status: int = Field(ge=400, le=599)
    code: int
    description: str = Field(max_length=500)


async def _script_refusal(sb: Sandbox, request: Request) -> Any:
    body = await _parse(request, ScriptedRefusal)
    sb.scripted_refusals.script(body.call, body.status, body.code, body.description)
    return {"scripted": sb.scripted_refusals.scripted()}


async def _calls(sb: Sandbox, request: Request) -> Any:
    return dict(sorted(sb.state.calls.items()))


async def _clear_calls(sb: Sandbox, request: Request) -> Any:
    sb.state.calls.clear()
    return {}


async def _snapshot(sb: Sandbox, request: Request) -> Any:
    state = sb.state
    return {
        "now": state.clock.now_dt().isoformat(),
        "customers": [
            {
                "id": c.id,
                "domain": c.domain,
                "companyName": c.company_name,
                "country": c.country,
                "associatedPartnerId": c.associated_partner_id,
                "organizationRegistrationNumber": c.organization_registration_number,
                "qualifications": [qualification_json(q) for q in c.qualifications],
                "agreements": len(c.agreements),
            }
            for c in state.customers.values()
        ],
        "subscriptions": [
            {**commerce.subscription_json(s, sb.now()), "customerId": s.customer_id}
            for s in state.subscriptions.values()
        ],
        "orders": [commerce.order_json(o) for o in state.orders.values()],
        "takenDomains": sorted(state.taken_domains),
    }


def admin_routes(sb: Sandbox, hosts: Iterable[str] = LOOPBACK_NAMES) -> list[Route]:
    """`hosts`: the Host names answered (see `admin_host_names`)."""
    names = frozenset(name.lower() for name in hosts)
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/health", _health),
        ("GET", "/faults", _get_faults),
        ("PUT", "/faults", _put_faults),
        ("PATCH", "/settings", _settings),
        ("POST", "/reset", _reset),
        ("POST", "/clock/advance", _advance_clock),
        ("GET", "/clock", _get_clock),
        ("POST", "/clock", _clock),
        ("POST", "/resellers", _reseller),
        ("POST", "/tenants", _tenant),
        ("POST", "/tenants/{domain}/accept-relationship", _accept),
        ("POST", "/customers", _customer),
        ("POST", "/customers/{customer_id}/subscriptions", _subscription),
        ("PATCH", "/customers/{customer_id}/subscriptions/{subscription_id}", _change_subscription),
        ("PUT", "/customers/{customer_id}/qualifications/{qualification}", _qualification),
        ("POST", "/addresses", _address),
        ("POST", "/catalog/replace-availability", _replace_availability),
        ("PUT", "/refusals", _script_refusal),
        ("PUT", "/holds", _hold),
        ("GET", "/holds", _held),
        ("DELETE", "/holds", _release),
        ("GET", "/calls", _calls),
        ("DELETE", "/calls", _clear_calls),
        ("GET", "/snapshot", _snapshot),
    ]
    return [_route(sb, method, path, handler, names) for method, path, handler in table]
