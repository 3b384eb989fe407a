"""Partner Center steps of an order. Thin: call the client, translate, return a model.

Each step sends at most one request to Partner Center per attempt, each under the cap all
workers share (workers/partner_center_cap.py). (A 401 answer is the one exception: the client
fetches a new token and sends the request once more, under the cap too.) The first release's
steps, which send several, are in activities/first_release.py, for orders started before.

Every write takes the request id the workflow derived from the order id and the step, so a
retried activity (after a timeout, a lost answer, a worker crash) sends the same `MS-RequestId`.
What the catalog and the agreement template say is remembered for a while
(activities/partner_center_cache.py): the order's first step answers from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities import messages as m
from activities.errors import activity_error
from activities.partner_center_cache import AGREEMENT, PartnerCenterCache
from clients.partner_center import PartnerCenterClient, PartnerCenterError, errors
from clients.partner_center import models as pc
from ordering.catalog import AvailabilityFacts, SkuFacts, availabilities_asked_for
from ordering.config import EngineConfig
from ordering.document import Segment
from ordering.planning import ExistingSubscription
from ordering.refund_windows import RefundBlock, RefundWindow
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
    def __init__(
        self,
        client: PartnerCenterClient,
        config: EngineConfig,
        cache: PartnerCenterCache | None = None,
    ) -> None:
        self._pc = client
        self._config = config
        self.cache = cache or PartnerCenterCache(config.catalog_max_age)

    # ------------------------------------------------------------ from memory (local activities)

    @activity.defn(name=m.PREPARE_ORDER)
    async def prepare_order(self, query: m.CatalogQuery) -> m.PreparedOrder:
        """An order's first step: the configuration it runs with, and what this worker
        remembers of its offers and of the customer agreement's template. Asks nobody."""
        return m.PreparedOrder(
            config=self._config,
            catalog=await self.cached_catalog(query),
            agreement_template_id=self.cache.agreement_template(),
        )

    @activity.defn(name=m.LOAD_ENGINE_CONFIG)
    async def load_engine_config(self, _: m.NoInput) -> EngineConfig:
        """The configuration a licence request runs with (an order's comes with
        `prepare_order`; the first release's orders asked for it alone)."""
        return self._config

    @activity.defn(name=m.CACHED_CATALOG)
    async def cached_catalog(self, query: m.CatalogQuery) -> m.CachedCatalog:
        """What this worker remembers of the offers (None where nothing young enough)."""
        return m.CachedCatalog(
            offers=[
                m.CachedOffer(
                    offer=q.offer,
                    segment=q.segment,
                    sku=self.cache.sku(query.country, q.offer),
                    availabilities=self.cache.availabilities(
                        query.country, q.offer, availabilities_asked_for(q.segment)
                    ),
                )
                for q in query.offers
            ]
        )

    # ------------------------------------------------------------ Partner Center, one request each

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
                if error.is_not_found:
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

    @activity.defn(name=m.READ_QUALIFICATIONS)
    async def read_qualifications(self, ref: m.CustomerRef) -> m.Qualifications:
        """The customer's qualifications; `customer_found=False` when Partner Center has no
        such customer for this partner."""
        try:
            found = await self._pc.get_qualifications(ref.customer_id)
        except PartnerCenterError as error:
            if error.is_not_found:
                return m.Qualifications(customer_found=False)
            raise activity_error(error) from None
        return _qualifications(found)

    @activity.defn(name=m.SUBMIT_EDUCATION_VETTING)
    async def submit_education_vetting(self, step: m.RequestEducationVetting) -> m.Qualifications:
        """Ask Microsoft to vet the customer for education plans: where the request stands
        (in review, as a rule). A refusal is the workflow's to judge, by the qualifications
        read again (Microsoft documents no code for "requested already")."""
        request = pc.QualificationRequest(
            qualification="Education",
            education_segment=step.education.segment.value,
            website=step.education.website,
        )
        posted = await _call(
            lambda: self._pc.request_qualification(
                step.customer_id, request, request_id=step.request_id
            )
        )
        return _qualifications([posted])

    @activity.defn(name=m.LIST_CUSTOMER_AGREEMENTS)
    async def list_customer_agreements(self, ref: m.CustomerRef) -> m.AgreementsOnRecord:
        existing = await _call(lambda: self._pc.list_agreements(ref.customer_id))
        return m.AgreementsOnRecord(on_record=bool(existing))

    @activity.defn(name=m.READ_AGREEMENT_TEMPLATE)
    async def read_agreement_template(self, _none: m.NoInput) -> m.AgreementTemplate:
        """The Microsoft Customer Agreement's current template: what this worker read meanwhile
        for another order (the order asked its memory when it began: a burst of new customers
        on a cold worker began before any read), or is reading now, or a new read."""
        template_id = self.cache.agreement_template()
        if template_id is None:
            template_id = await self.cache.reading_agreement_template.once(
                AGREEMENT, self._read_agreement_template
            )
        return m.AgreementTemplate(template_id=template_id)

    async def _read_agreement_template(self) -> str:
        [metadata, *_] = await _call(self._pc.get_agreement_metadata)
        self.cache.remember_agreement_template(metadata.template_id)
        return metadata.template_id

    @activity.defn(name=m.RECORD_CUSTOMER_AGREEMENT)
    async def record_customer_agreement(self, step: m.RecordAgreement) -> m.AgreementConfirmed:
        """Confirm the Microsoft Customer Agreement; one already on record (ours from an
        earlier attempt, or anybody's: 600061) is success, never a reason to fail."""
        a = step.acceptance
        agreement = pc.Agreement(
            primary_contact=pc.Contact(
                first_name=a.first_name, last_name=a.last_name, email=a.email, phone_number=a.phone
            ),
            template_id=step.template_id,
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

    @activity.defn(name=m.READ_SKU)
    async def read_sku(self, query: m.SkuQuery) -> SkuFacts:
        """The offer's SKU in the country (`found=False` when Partner Center has none): what
        this worker read meanwhile for another order, or is reading now, or a new read."""
        remembered = self.cache.sku(query.country, query.offer)
        if remembered is not None:
            return remembered
        key = (query.country.upper(), query.offer.upper())
        return await self.cache.reading_skus.once(key, lambda: self._read_sku(query))

    async def _read_sku(self, query: m.SkuQuery) -> SkuFacts:
        product_id, sku_id = query.offer.split(":")
        try:
            sku = await self._pc.get_sku(product_id, sku_id, query.country)
        except PartnerCenterError as error:
            if not error.is_not_found:
                raise activity_error(error) from None
            facts = SkuFacts(offer=query.offer, found=False)
        else:
            facts = SkuFacts(
                offer=query.offer,
                title=sku.title or query.offer,
                minimum_quantity=sku.minimum_quantity,
                maximum_quantity=sku.maximum_quantity,
            )
        self.cache.remember_sku(query.country, facts)
        return facts

    @activity.defn(name=m.READ_AVAILABILITIES)
    async def read_availabilities(self, query: m.AvailabilityQuery) -> m.Availabilities:
        """The SKU's availabilities (fetched shortly before purchase: their ids change). Never
        from memory (an order asks for them when the remembered ones were refused as stale,
        maybe on another worker), but a read of the same ones already under way on this worker
        answers it too."""
        target = availabilities_asked_for(query.segment)
        generation = self.cache.generation
        key = (query.country.upper(), query.offer.upper(), target, generation)
        items = await self.cache.reading_availabilities.once(
            key, lambda: self._read_availabilities(query, target, generation)
        )
        return m.Availabilities(items=items)

    async def _read_availabilities(
        self, query: m.AvailabilityQuery, target: str | None, generation: int
    ) -> list[AvailabilityFacts]:
        product_id, sku_id = query.offer.split(":")
        try:
            found = await self._pc.list_availabilities(
                product_id, sku_id, query.country, target_segment=target
            )
        except PartnerCenterError as error:
            if not error.is_not_found:
                raise activity_error(error) from None
            found = []
        items = [
            AvailabilityFacts(
                segment=a.segment, purchasable=a.is_purchasable, catalog_item_id=a.catalog_item_id
            )
            for a in found
        ]
        if self.cache.generation == generation:  # (else it may be what was called stale)
            self.cache.remember_availabilities(query.country, query.offer, target, items)
        return items

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
                    window=_window(s),
                )
                for s in subs
            ]
        )

    @activity.defn(name=m.CREATE_CART)
    async def create_cart(self, step: m.Purchase) -> m.CartAnswer:
        """A cart with every new subscription of the order (not yet bought: see checkout)."""
        cart = _cart(step)
        try:
            created = await self._pc.create_cart(
                step.customer_id, cart, request_id=request_id(step.request_id, CART)
            )
        except PartnerCenterError as error:
            if error.code in m.STALE_CATALOG_CODES:
                self.cache.forget_catalog_items([line.catalog_item_id for line in step.lines])
            raise activity_error(error) from None
        if created.id is None:
            raise ApplicationError("Partner Center created a cart without an id")
        refused = _cart_line_errors(created.line_items)
        if any(r.refusal.code in m.STALE_CATALOG_CODES for r in refused):
            self.cache.forget_catalog_items([line.catalog_item_id for line in step.lines])
        return m.CartAnswer(
            cart_id=created.id,
            lines=[
                m.CartLine(id=item.id, order_group=item.order_group) for item in created.line_items
            ],
            refused=refused,
        )

    @activity.defn(name=m.CHECKOUT_CART)
    async def checkout_cart(self, step: m.Checkout) -> m.PurchaseResult:
        """Buy what the cart holds: the Partner Center orders placed (our line numbers in
        each), and the lines of order groups Microsoft refused."""
        try:
            result = await self._pc.checkout_cart(
                step.customer_id,
                step.cart.cart_id,
                request_id=request_id(step.request_id, CHECKOUT),
            )
        except PartnerCenterError as error:
            if error.code in m.STALE_CATALOG_CODES:
                self.cache.forget_catalog_items([line.catalog_item_id for line in step.lines])
            raise activity_error(error) from None
        return _purchase_result(result, step.cart.lines, step.lines)

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

    @activity.defn(name=m.READ_SUBSCRIPTION_FOR_CHANGE)
    async def read_subscription_for_change(
        self, query: m.SubscriptionQuery
    ) -> m.SubscriptionForChange:
        sub = await _call(
            lambda: self._pc.get_subscription(query.customer_id, query.subscription_id)
        )
        return m.SubscriptionForChange(state=_state(sub), body=sub.to_wire())

    @activity.defn(name=m.SET_QUANTITY)
    async def set_quantity(self, step: m.SetQuantity) -> m.QuantitySet:
        """Send the subscription back with its new total (never a delta: a repeated request
        changes nothing)."""
        subscription = pc.Subscription.model_validate(step.subscription)
        changed = await _call(
            lambda: self._pc.request_quantity_change(
                step.customer_id, subscription, step.quantity, request_id=step.request_id
            )
        )
        return m.QuantitySet(state=_state(changed) if changed is not None else None)

    @activity.defn(name=m.CANCEL_SUBSCRIPTION)
    async def cancel_subscription(self, step: m.CancelSubscription) -> m.SubscriptionState:
        """Cancel the subscription (status deleted) within its window; the request id makes
        a repeated request change nothing."""
        subscription = pc.Subscription.model_validate(step.subscription)
        cancelled = await _call(
            lambda: self._pc.cancel_subscription(
                step.customer_id, subscription, request_id=step.request_id
            )
        )
        return _state(cancelled)

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
        window=_window(sub),
    )


def _window(sub: pc.Subscription) -> RefundWindow | None:
    """New commerce's refund windows as Partner Center reports them (None: it reports none)."""
    if sub.cancellation_allowed_until_date is None and sub.refundable_quantity is None:
        return None
    refundable = sub.refundable_quantity.details if sub.refundable_quantity else []
    return RefundWindow(
        cancellation_allowed_until=sub.cancellation_allowed_until_date,
        refundable=[
            RefundBlock(quantity=block.quantity, until=block.allowed_until_date_time)
            for block in refundable
        ],
    )


def _cart(step: m.Purchase) -> pc.Cart:
    """The cart of an order's new subscriptions, the reseller (indirect) named on each line."""
    participants = (
        [pc.Participant(key="transaction_reseller", value=step.reseller_mpn_id)]
        if step.reseller_mpn_id
        else []
    )
    return pc.Cart(
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


def _cart_line_errors(items: Sequence[pc.CartLineItem]) -> list[m.RefusedPurchaseLines]:
    """A cart whose lines carry errors is not checked out: each such line is refused with
    Microsoft's reason, the others are not bought either (the cart is left as it is)."""
    errored = [item for item in items if item.error is not None]
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
    others = [item.id for item in items if item.error is None]
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


class _CartLine(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def order_group(self) -> str | None: ...


def _purchase_result(
    result: pc.CheckoutResult, cart_lines: Sequence[_CartLine], lines: list[m.PurchaseLine]
) -> m.PurchaseResult:
    """What a checkout bought (our line numbers in each Partner Center order) and refused; a
    checkout that placed nothing is Microsoft's refusal of the whole purchase."""
    if result.order_errors and not result.orders:
        first = result.order_errors[0]
        raise activity_error(
            PartnerCenterError(400, str(first.code), first.description or "", retryable=False)
        )
    placed = [_match_lines(o, lines) for o in result.orders]
    return m.PurchaseResult(
        orders=placed, refused=_refused_groups(cart_lines, result.order_errors, placed)
    )


def _refused_groups(
    cart_lines: Sequence[_CartLine], errors: list[pc.OrderError], placed: list[m.PurchasedOrder]
) -> list[m.RefusedPurchaseLines]:
    """A checkout can place some order groups and refuse others: the lines of each refused
    group (by the cart's order groups; lines in no placed order otherwise) with its reason."""
    in_orders = {n for order in placed for n in order.lines}
    unplaced = [item for item in cart_lines if item.id not in in_orders]
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
