"""Partner Center steps of an order. Thin: call the client, translate, return a model.

Every write takes the request id the workflow derived from the order id and the step, so a
retried activity (after a timeout, a lost answer, a worker crash) sends the same `MS-RequestId`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities import messages as m
from activities.errors import activity_error
from clients.partner_center import PartnerCenterClient, PartnerCenterError, errors
from clients.partner_center import models as pc
from ordering.config import EngineConfig
from ordering.document import Segment
from ordering.planning import ExistingSubscription
from ordering.request_ids import CART, CHECKOUT, request_id

T = TypeVar("T")

VERIFIED_ADDRESS_STATUSES = ("VerifiedShippable", "Verified")

# Order statuses Microsoft documents that end an order without every line fulfilled; waiting
# longer would not change them (order-resources).
ORDER_ENDED_UNFULFILLED = frozenset({"cancelled", "error", "po review rejected"})

# The MPA status check answers these as errors (400), not as {"isAgreementSigned": ...}.
MPA_CHECK_ANSWERS: dict[str, m.ResellerAgreement] = {
    errors.UNKNOWN_MPN_ID: m.ResellerAgreement(known=False, signed=False),
    errors.MPA_NOT_SIGNED_STATUS: m.ResellerAgreement(known=True, signed=False),
    errors.NOT_AN_INDIRECT_RESELLER: m.ResellerAgreement(
        known=True, signed=False, ineligible="not_indirect_reseller"
    ),
    errors.MPA_REGION_MISMATCH: m.ResellerAgreement(
        known=True, signed=False, ineligible="region_mismatch"
    ),
}


def not_yet(what: str) -> ApplicationError:
    """Not done yet: the retry policy asks again. Benign, so it is logged at debug level."""
    return ApplicationError(what, type=m.NOT_YET, category=ApplicationErrorCategory.BENIGN)


async def _call(step: Callable[[], Awaitable[T]]) -> T:
    try:
        return await step()
    except PartnerCenterError as error:
        raise activity_error(error) from None


class PartnerCenterActivities:
    def __init__(self, client: PartnerCenterClient, config: EngineConfig) -> None:
        self._pc = client
        self._config = config

    @activity.defn(name=m.LOAD_ENGINE_CONFIG)
    async def load_engine_config(self, _: m.NoInput) -> EngineConfig:
        return self._config

    @activity.defn(name=m.CHECK_RESELLER)
    async def check_reseller(self, check: m.ResellerCheck) -> m.ResellerAgreement:
        try:
            status = await self._pc.get_reseller_agreement_status(check.mpn_id)
        except PartnerCenterError as error:
            answer = MPA_CHECK_ANSWERS.get(error.code or "")
            if answer is None:
                raise activity_error(error) from None
            return answer.model_copy()
        return m.ResellerAgreement(known=True, signed=status.is_agreement_signed)

    @activity.defn(name=m.CHECK_DOMAIN)
    async def check_domain(self, check: m.DomainCheck) -> m.DomainAvailability:
        available = await _call(lambda: self._pc.is_domain_available(check.domain))
        return m.DomainAvailability(available=available)

    @activity.defn(name=m.VALIDATE_ADDRESS)
    async def validate_address(self, check: m.AddressCheck) -> m.AddressVerdict:
        a = check.address
        result = await _call(
            lambda: self._pc.validate_address(
                pc.Address(
                    address_line1=a.address_line1,
                    address_line2=a.address_line2 or None,
                    city=a.city,
                    state=a.state or None,
                    postal_code=a.postal_code,
                    country=a.country,
                )
            )
        )
        suggestions = [
            a.model_copy(
                update={
                    "address_line1": s.address_line1 or "",
                    "address_line2": s.address_line2 or "",
                    "city": s.city or "",
                    "state": s.state or "",
                    "postal_code": s.postal_code or "",
                }
            )
            for s in result.suggested_addresses
        ]
        return m.AddressVerdict(
            verified=result.status in VERIFIED_ADDRESS_STATUSES,
            status=result.status,
            message=result.validation_message,
            suggestions=suggestions,
        )

    @activity.defn(name=m.CREATE_CUSTOMER)
    async def create_customer(self, step: m.CreateCustomer) -> m.CustomerRef:
        c = step.customer
        a = c.billing_address
        new = pc.NewCustomer(
            billing_profile=pc.BillingProfile(
                email=c.email,
                culture=c.culture,
                language=c.language,
                company_name=c.company_name,
                default_address=pc.Address(
                    first_name=a.first_name or None,
                    last_name=a.last_name or None,
                    address_line1=a.address_line1 or None,
                    address_line2=a.address_line2 or None,
                    city=a.city or None,
                    state=a.state or None,
                    postal_code=a.postal_code or None,
                    country=a.country,
                    phone_number=c.phone,
                ),
            ),
            company_profile=pc.CompanyProfile(
                domain=c.domain, organization_registration_number=step.tax_id
            ),
            associated_partner_id=step.reseller_tenant_id,
        )
        created = await _call(lambda: self._pc.create_customer(new, request_id=step.request_id))
        if created.id is None:
            raise ApplicationError("Partner Center created a customer without an id")
        return m.CustomerRef(customer_id=created.id)

    @activity.defn(name=m.GET_RELATIONSHIP_LINK)
    async def get_relationship_link(self, _: m.NoInput) -> m.RelationshipLink:
        link = await _call(self._pc.get_relationship_request)
        return m.RelationshipLink(url=link.url)

    @activity.defn(name=m.FIND_CUSTOMER)
    async def find_customer(self, query: m.FindCustomer) -> m.CustomerLookup:
        """By Partner Center id (a known customer), or by domain (an existing tenant that
        accepted the reseller relationship appears among the partner's customers)."""
        if query.customer_id:
            try:
                customer = await self._pc.get_customer(query.customer_id)
            except PartnerCenterError as error:
                if error.status == 404:
                    return m.CustomerLookup()
                raise activity_error(error) from None
            return m.CustomerLookup(customer_id=customer.id)
        domain = (query.domain or "").lower()
        found = await _call(lambda: self._pc.search_customers("Domain", domain))
        for customer in found:
            profile = customer.company_profile
            domains = {*(customer.custom_domains or []), profile.domain if profile else None}
            if domain in {d.lower() for d in domains if d}:
                return m.CustomerLookup(customer_id=customer.id)
        return m.CustomerLookup()

    @activity.defn(name=m.GET_QUALIFICATIONS)
    async def get_qualifications(self, ref: m.CustomerRef) -> m.Qualifications:
        found = await _call(lambda: self._pc.get_qualifications(ref.customer_id))
        return _qualifications(found)

    @activity.defn(name=m.REQUEST_EDUCATION_VETTING)
    async def request_education_vetting(self, step: m.RequestEducationVetting) -> m.Qualifications:
        request = pc.QualificationRequest(
            qualification="Education",
            education_segment=step.education.segment.value,
            website=step.education.website,
        )
        try:
            await self._pc.request_qualification(
                step.customer_id, request, request_id=step.request_id
            )
        except PartnerCenterError as error:
            if error.retryable:
                raise activity_error(error) from None
            # Refused: perhaps because it was requested already (Microsoft documents no code
            # for that; the sandbox says 600048). Where it stands decides, not the code.
            standing = await self.get_qualifications(m.CustomerRef(customer_id=step.customer_id))
            if "Education" in (*standing.approved, *standing.in_review, *standing.denied):
                return standing
            raise activity_error(error) from None
        return await self.get_qualifications(m.CustomerRef(customer_id=step.customer_id))

    @activity.defn(name=m.CONFIRM_CUSTOMER_AGREEMENT)
    async def confirm_customer_agreement(self, step: m.ConfirmAgreement) -> m.AgreementConfirmed:
        """Confirm the Microsoft Customer Agreement once: an existing confirmation (ours from an
        earlier attempt, or anybody's) is success, never a reason to fail."""
        existing = await _call(lambda: self._pc.list_agreements(step.customer_id))
        if existing:
            return m.AgreementConfirmed(newly_confirmed=False)
        [metadata, *_] = await _call(self._pc.get_agreement_metadata)
        a = step.acceptance
        agreement = pc.Agreement(
            primary_contact=pc.Contact(
                first_name=a.first_name, last_name=a.last_name, email=a.email, phone_number=a.phone
            ),
            template_id=metadata.template_id,
            date_agreed=a.accepted_at,
        )
        try:
            await self._pc.confirm_agreement(
                step.customer_id, agreement, request_id=step.request_id
            )
        except PartnerCenterError as error:
            if error.code == errors.AGREEMENT_ALREADY_CONFIRMED:
                return m.AgreementConfirmed(newly_confirmed=False)
            raise activity_error(error) from None
        return m.AgreementConfirmed(newly_confirmed=True)

    @activity.defn(name=m.DESCRIBE_OFFERS)
    async def describe_offers(self, query: m.DescribeOffers) -> m.OfferCatalog:
        """Catalog facts per offer, fetched shortly before purchase (availability ids change)."""
        offers = []
        for q in query.offers:
            product_id, sku_id = q.offer.split(":")
            try:
                sku = await self._pc.get_sku(product_id, sku_id, query.country)
                availabilities = await self._pc.list_availabilities(
                    product_id,
                    sku_id,
                    query.country,
                    # Microsoft lists non-profit availabilities only when asked for them.
                    target_segment="nonprofit" if q.segment is Segment.NONPROFIT else None,
                )
            except PartnerCenterError as error:
                if error.status == 404:
                    offers.append(m.OfferDetails(offer=q.offer, segment=q.segment, found=False))
                    continue
                raise activity_error(error) from None
            # Microsoft sends "commercial" where its field table says "Commercial".
            chosen = next(
                (a for a in availabilities if (a.segment or "").lower() == q.segment.value.lower()),
                None,
            )
            offers.append(
                m.OfferDetails(
                    offer=q.offer,
                    segment=q.segment,
                    found=True,
                    title=sku.title or q.offer,
                    purchasable=chosen.is_purchasable if chosen else False,
                    catalog_item_id=chosen.catalog_item_id if chosen else None,
                    segments=[s for a in availabilities if (s := _segment(a.segment)) is not None],
                    minimum_quantity=sku.minimum_quantity,
                    maximum_quantity=sku.maximum_quantity,
                )
            )
        return m.OfferCatalog(offers=offers)

    @activity.defn(name=m.READ_SUBSCRIPTIONS)
    async def read_subscriptions(self, ref: m.CustomerRef) -> m.SubscriptionList:
        subs = await _call(lambda: self._pc.list_subscriptions(ref.customer_id))
        return m.SubscriptionList(
            items=[
                ExistingSubscription(
                    id=s.id,
                    offer=":".join(s.offer_id.upper().split(":")[:2]),
                    billing_cycle=(s.billing_cycle or "").lower(),
                    term_duration=s.term_duration,
                    status=s.status.lower(),
                    quantity=s.quantity,
                    created=s.creation_date.isoformat() if s.creation_date else "",
                )
                for s in subs
            ]
        )

    @activity.defn(name=m.PURCHASE)
    async def purchase(self, step: m.Purchase) -> m.PurchaseResult:
        """Create one cart with every new subscription of the order and check it out."""
        participants = (
            [pc.Participant(key="transaction_reseller", value=step.reseller_mpn_id)]
            if step.reseller_mpn_id
            else []
        )
        cart = pc.Cart(
            line_items=[
                pc.CartLineItem(
                    id=line.line,
                    catalog_item_id=line.catalog_item_id,
                    quantity=line.quantity,
                    billing_cycle=line.billing_cycle,
                    term_duration=line.term_duration,
                    friendly_name=line.friendly_name,
                    participants=participants,
                )
                for line in step.lines
            ]
        )
        created = await _call(
            lambda: self._pc.create_cart(
                step.customer_id, cart, request_id=request_id(step.request_id, CART)
            )
        )
        if created.id is None:
            raise ApplicationError("Partner Center created a cart without an id")
        line_errors = _cart_line_errors(created)
        if line_errors:  # Microsoft named lines it will not sell: nothing is checked out
            return m.PurchaseResult(orders=[], refused=line_errors)
        cart_id = created.id
        result = await _call(
            lambda: self._pc.checkout_cart(
                step.customer_id, cart_id, request_id=request_id(step.request_id, CHECKOUT)
            )
        )
        if result.order_errors and not result.orders:
            first = result.order_errors[0]
            raise activity_error(
                PartnerCenterError(400, str(first.code), first.description or "", retryable=False)
            )
        placed = [_match_lines(o, step.lines) for o in result.orders]
        return m.PurchaseResult(
            orders=placed, refused=_refused_groups(created, result.order_errors, placed)
        )

    @activity.defn(name=m.AWAIT_PROVISIONING)
    async def await_provisioning(self, check: m.ProvisioningCheck) -> m.ProvisionedOrder:
        """Done when the order is completed and every line has its subscription; until then
        this fails with NotYet and the retry policy asks again."""
        order = await _call(lambda: self._pc.get_order(check.customer_id, check.order_id))
        status = (order.status or "").lower()
        lines = sorted(order.line_items, key=lambda line: line.line_item_number)
        if status == "partial success":  # final: some lines fulfilled, the others never will be
            return m.ProvisionedOrder(
                order_id=order.id,
                subscription_ids=[line.subscription_id or "" for line in lines],
                status=status,
            )
        if status in ORDER_ENDED_UNFULFILLED:
            raise ApplicationError(
                f"Microsoft reports the order as {status}",
                type="OrderNotFulfilled",
                non_retryable=True,
            )
        if status != "completed" or any(not line.subscription_id for line in lines):
            raise not_yet(f"order is {status or 'unknown'}")
        return m.ProvisionedOrder(
            order_id=order.id, subscription_ids=[str(line.subscription_id) for line in lines]
        )

    @activity.defn(name=m.GET_SUBSCRIPTION)
    async def get_subscription(self, query: m.SubscriptionQuery) -> m.SubscriptionState:
        sub = await _call(
            lambda: self._pc.get_subscription(query.customer_id, query.subscription_id)
        )
        return _state(sub)

    @activity.defn(name=m.CHANGE_QUANTITY)
    async def change_quantity(self, step: m.ChangeQuantity) -> m.SubscriptionState:
        sub = await _call(lambda: self._pc.get_subscription(step.customer_id, step.subscription_id))
        if sub.quantity == step.quantity:
            return _state(sub)  # already done (an earlier attempt whose answer was lost)
        changed = await _call(
            lambda: self._pc.change_quantity(
                step.customer_id, sub, step.quantity, request_id=step.request_id
            )
        )
        return _state(changed)

    @activity.defn(name=m.AWAIT_QUANTITY)
    async def await_quantity(self, query: m.SubscriptionQuery) -> m.SubscriptionState:
        sub = await _call(
            lambda: self._pc.get_subscription(query.customer_id, query.subscription_id)
        )
        if sub.quantity != query.quantity or sub.status.lower() != "active":
            raise not_yet("quantity change not yet visible")
        return _state(sub)


def _segment(value: str | None) -> Segment | None:
    """Microsoft's segment, in whatever casing it sends."""
    return next((s for s in Segment if s.value.lower() == (value or "").lower()), None)


def _qualifications(found: list[pc.Qualification]) -> m.Qualifications:
    result = m.Qualifications()
    for q in found:
        status = (q.vetting_status or "Approved").lower()
        if q.qualification == "None":
            continue
        if status == "approved":
            result.approved.append(q.qualification)
        elif status == "inreview":
            result.in_review.append(q.qualification)
        elif status == "denied":
            result.denied.append(q.qualification)
    return result


def _state(sub: pc.Subscription) -> m.SubscriptionState:
    return m.SubscriptionState(
        subscription_id=sub.id,
        offer=":".join(sub.offer_id.upper().split(":")[:2]),
        status=sub.status.lower(),
        quantity=sub.quantity,
        billing_cycle=(sub.billing_cycle or "").lower(),
        term_duration=sub.term_duration,
    )


def _cart_line_errors(cart: pc.Cart) -> list[m.RefusedPurchaseLines]:
    """A cart whose lines carry errors is not checked out: each such line is refused with
    Microsoft's reason, the others are not bought either (the cart is left as it is)."""
    errored = [item for item in cart.line_items if item.error is not None]
    if not errored:
        return []
    refused = [
        m.RefusedPurchaseLines(
            lines=[item.id],
            refusal=m.PartnerCenterRefusal(
                status=400,
                code=str(item.error.error_code) if item.error.error_code is not None else None,
                description=item.error.error_description or "",
            ),
        )
        for item in errored
        if item.error is not None
    ]
    others = [item.id for item in cart.line_items if item.error is None]
    if others:
        named = ", ".join(f"lines[{item.id}]" for item in errored)
        refused.append(
            m.RefusedPurchaseLines(
                lines=others,
                refusal=refused[0].refusal,
                not_ordered=f"Not ordered: the cart was not checked out because Microsoft "
                f"refused {named} of it; nothing was bought for this line.",
            )
        )
    return refused


def _refused_groups(
    cart: pc.Cart, errors: list[pc.OrderError], placed: list[m.PurchasedOrder]
) -> list[m.RefusedPurchaseLines]:
    """A checkout can place some order groups and refuse others: the lines of each refused
    group (by the cart's order groups; lines in no placed order otherwise) with its reason."""
    in_orders = {n for order in placed for n in order.lines}
    unplaced = [item for item in cart.line_items if item.id not in in_orders]
    refused = []
    for error in errors:
        lines = [i.id for i in unplaced if error.order_group_id in (None, i.order_group)]
        if len(errors) == 1 or not lines:
            lines = [i.id for i in unplaced]
        unplaced = [i for i in unplaced if i.id not in lines]
        if lines:
            refused.append(
                m.RefusedPurchaseLines(
                    lines=lines,
                    refusal=m.PartnerCenterRefusal(
                        status=400, code=str(error.code), description=error.description or ""
                    ),
                )
            )
    return refused


def _match_lines(order: pc.Order, lines: list[m.PurchaseLine]) -> m.PurchasedOrder:
    """Our line numbers in a Partner Center order, matched by catalog item, cycle and term
    (unique within an order: the order document refuses repeated lines)."""
    unmatched = list(lines)
    ours = []
    for item in sorted(order.line_items, key=lambda i: i.line_item_number):
        match = next(
            (
                line
                for line in unmatched
                if (item.offer_id or "").upper() == line.catalog_item_id.upper()
                and (order.billing_cycle or line.billing_cycle).lower() == line.billing_cycle
                and (item.term_duration or line.term_duration) == line.term_duration
            ),
            None,
        )
        if match is None:
            raise ApplicationError(
                f"Partner Center order {order.id} has a line the cart did not have",
                non_retryable=True,
            )
        unmatched.remove(match)
        ours.append(match.line)
    return m.PurchasedOrder(order_id=order.id, lines=ours)
