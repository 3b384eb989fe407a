"""The first release's Partner Center steps, which send several requests each: kept for orders
(and licence requests) started before the one-request steps, whose saved histories name them.
Each of their requests passes the shared cap like any other; a new order never schedules
them. They go when no run started before that change remains (see
docs/PERFORMANCE.md, "Compatibility").
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import messages as m
from activities.errors import activity_error
from activities.partner_center import (
    PartnerCenterActivities,
    _call,
    _cart,
    _cart_line_errors,
    _purchase_result,
    _segment,
    _state,
)
from clients.partner_center import PartnerCenterError, errors
from clients.partner_center import models as pc
from ordering.config import EngineConfig
from ordering.document import Segment
from ordering.request_ids import CART, CHECKOUT, request_id


class FirstReleaseActivities:
    def __init__(self, steps: PartnerCenterActivities, config: EngineConfig) -> None:
        self._steps = steps
        self._pc = steps._pc
        self._config = config

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
            standing = await self._steps.get_qualifications(
                m.CustomerRef(customer_id=step.customer_id)
            )
            if "Education" in (*standing.approved, *standing.in_review, *standing.denied):
                return standing
            raise activity_error(error) from None
        return await self._steps.get_qualifications(m.CustomerRef(customer_id=step.customer_id))

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
                if error.is_not_found:
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

    @activity.defn(name=m.PURCHASE)
    async def purchase(self, step: m.Purchase) -> m.PurchaseResult:
        """Create one cart with every new subscription of the order and check it out."""
        cart = _cart(step)
        created = await _call(
            lambda: self._pc.create_cart(
                step.customer_id, cart, request_id=request_id(step.request_id, CART)
            )
        )
        if created.id is None:
            raise ApplicationError("Partner Center created a cart without an id")
        line_errors = _cart_line_errors(created.line_items)
        if line_errors:  # Microsoft named lines it will not sell: nothing is checked out
            return m.PurchaseResult(orders=[], refused=line_errors)
        cart_id = created.id
        result = await _call(
            lambda: self._pc.checkout_cart(
                step.customer_id, cart_id, request_id=request_id(step.request_id, CHECKOUT)
            )
        )
        return _purchase_result(result, created.line_items, step.lines)

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
