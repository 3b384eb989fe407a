"""The course of an order started by the first release (before the one-request steps): kept
verbatim so that such orders, which may wait 30 days for a reseller relationship, finish as
they began (their histories replay on this code: tests/engine/histories/earlier/).

`OrderWorkflow` runs it for runs without the `partner-center-queue` patch marker
(workflows/order.py); every new order runs the lean course there. This module goes, with the
first release's activities (activities/first_release.py), once no such run remains: then
`workflow.deprecate_patch` replaces the `patched` check.

Reads run as local activities and writes as regular activities, several Partner Center
requests per step, each under the shared cap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import messages as m
    from ordering import request_ids as ids
    from ordering.document import NewCustomer, OrderDocument
    from ordering.eligibility import (
        EDUCATION,
        education_vetting_to_request,
        eligibility_problems,
        new_customer_standing,
        qualifications_needed,
        vetting_under_way,
    )
    from ordering.feasibility import Standing, catalog_problems, order_problems
    from ordering.planning import (
        LineAction,
        OfferFacts,
        Plan,
        PlannedLine,
        plan_order,
        with_fresh_catalog,
    )
    from ordering.refusals import Refusal, RefusalCode, from_partner_center
    from ordering.request_ids import request_id
    from ordering.status import Phase, WaitingFor
    from workflows import steps
    from workflows.refusals import partner_center_refusal, refuse
    from workflows.waiting import Pace

if TYPE_CHECKING:
    from workflows.order import OrderWorkflow


class FirstReleaseCourse:
    """The first release's steps of an order, on the workflow `w`'s state."""

    def __init__(self, w: OrderWorkflow) -> None:
        self.w = w

    async def _before_purchase(self, order: OrderDocument) -> Plan:
        if order.reseller is not None:
            await self._check_reseller(order.reseller.mpn_id)
        offers = await self._describe_offers(order)
        if isinstance(order.customer, NewCustomer):
            # Everything knowable is judged before the customer exists: it takes the domain
            # for good. A new customer holds nothing and has no qualification yet.
            standing = new_customer_standing(
                school=order.customer.education is not None,
                waits_for_vetting=self.w._config.waits.wait_for_education_vetting,
            )
            plan = plan_order(order.lines, self.w._config, offers, [])
            self.w._refuse_problems(
                order_problems(order.lines, offers, plan, [], standing, self.w._config)
            )
        else:
            self.w._refuse_problems(catalog_problems(order.lines, offers))
        customer_id = await self._resolve_customer(order, offers)
        await self._check_eligibility(order, customer_id, offers)
        await self._confirm_customer_agreement(order, customer_id)
        await self._take_customer_slot(order, customer_id)
        return await self._plan(order, customer_id)

    async def _check_reseller(self, mpn_id: str) -> None:
        self.w._enter(Phase.CHECKING_RESELLER)
        status = await steps.read(
            m.CHECK_RESELLER, m.ResellerCheck(mpn_id=mpn_id), m.ResellerAgreement
        )
        if not status.known:
            refuse(RefusalCode.RESELLER_UNKNOWN, f"Partner Center knows no reseller {mpn_id}.")
        if status.ineligible == "not_indirect_reseller":
            refuse(
                RefusalCode.RESELLER_NOT_ELIGIBLE,
                f"The partner {mpn_id} is not an indirect reseller: orders for it cannot be "
                "placed through an indirect provider.",
            )
        if status.ineligible == "region_mismatch":
            refuse(
                RefusalCode.RESELLER_NOT_ELIGIBLE,
                f"The reseller {mpn_id} is not in this provider's region: it must buy through "
                "an indirect provider of its own region.",
            )
        if not status.signed:
            refuse(
                RefusalCode.RESELLER_AGREEMENT_NOT_SIGNED,
                "The reseller has not accepted the Microsoft Partner Agreement. The reseller "
                "must accept it in Partner Center (it cannot be signed through the API); then "
                "place the order again.",
            )

    async def _describe_offers(self, order: OrderDocument) -> dict[str, OfferFacts]:
        catalog = await steps.read(
            m.DESCRIBE_OFFERS,
            m.DescribeOffers(
                country=order.country,
                offers=[
                    m.OfferQuery(offer=line.offer, segment=line.segment) for line in order.lines
                ],
            ),
            m.OfferCatalog,
        )
        facts = {
            d.offer: OfferFacts(
                offer=d.offer,
                title=d.title or d.offer,
                found=d.found,
                purchasable=d.purchasable,
                sold_in_segment=d.catalog_item_id is not None,
                minimum_quantity=d.minimum_quantity,
                maximum_quantity=d.maximum_quantity,
                catalog_item_id=d.catalog_item_id,
            )
            for d in catalog.offers
        }
        self.w._tracker.offers_described(facts)
        return facts

    async def _resolve_customer(self, order: OrderDocument, offers: dict[str, OfferFacts]) -> str:
        self.w._enter(Phase.RESOLVING_CUSTOMER)
        customer = order.customer
        if customer.kind == "known":
            found = await steps.read(
                m.FIND_CUSTOMER,
                m.FindCustomer(customer_id=customer.customer_id),
                m.CustomerLookup,
            )
            if found.customer_id is None:
                refuse(
                    RefusalCode.CUSTOMER_NOT_FOUND,
                    "Partner Center has no customer with this id for this partner.",
                )
            customer_id = found.customer_id
        elif customer.kind == "existing_tenant":
            customer_id = await self._wait_for_relationship(customer.domain)
        else:
            customer_id = await self._create_customer(order, customer, offers)
        self.w._tracker.customer_known(customer_id)
        return customer_id

    async def _create_customer(
        self, order: OrderDocument, customer: NewCustomer, offers: dict[str, OfferFacts]
    ) -> str:
        available = await steps.read(
            m.CHECK_DOMAIN, m.DomainCheck(domain=customer.domain), m.DomainAvailability
        )
        if not available.available:
            refuse(
                RefusalCode.DOMAIN_TAKEN,
                f"The domain {customer.domain} is already in use. Choose another domain "
                "prefix for the new customer.",
                domain=customer.domain,
            )
        if self.w._config.billing_address_required:
            await self._check_billing_address(customer)
        tax_id = await self.w._collect_tax_id(customer)

        self.w._enter(Phase.CREATING_CUSTOMER)
        self.w._tax_id_allowed = False
        try:
            created = await steps.write(
                m.CREATE_CUSTOMER,
                m.CreateCustomer(
                    request_id=request_id(order.order_id, ids.CREATE_CUSTOMER),
                    customer=customer,
                    tax_id=tax_id,
                    reseller_tenant_id=order.reseller.tenant_id if order.reseller else None,
                ),
                m.CustomerRef,
            )
        except steps.ACTIVITY_FAILURES as error:
            self.w._raise_partner_center_refusal(error)
        self.w._tracker.customer_created()
        return str(created.customer_id)

    async def _check_billing_address(self, customer: NewCustomer) -> None:
        self.w._enter(Phase.CHECKING_ADDRESS)
        missing = customer.billing_address.missing_fields()
        if self.w._phone_missing(customer):
            missing.append("phone")
        if missing:
            refuse(
                RefusalCode.BILLING_ADDRESS_INCOMPLETE,
                "The billing address is incomplete: " + ", ".join(missing) + ".",
                missing_fields=missing,
            )
        verdict = await steps.read(
            m.VALIDATE_ADDRESS, m.AddressCheck(address=customer.billing_address), m.AddressVerdict
        )
        if not verdict.verified:
            refuse(
                RefusalCode.BILLING_ADDRESS_NOT_VERIFIED,
                "Microsoft could not verify the billing address. Ask the customer to confirm "
                "one of the suggested addresses, or to correct it.",
                validation_status=verdict.status,
                suggested_addresses=[s.model_dump() for s in verdict.suggestions],
            )

    async def _wait_for_relationship(self, domain: str) -> str:
        """An existing tenant becomes the partner's customer when its global admin accepts the
        reseller invitation; until then the order shows the link and waits."""
        found = await steps.read(m.FIND_CUSTOMER, m.FindCustomer(domain=domain), m.CustomerLookup)
        if found.customer_id:
            return found.customer_id
        exists = await steps.read(
            m.CHECK_DOMAIN, m.DomainCheck(domain=domain), m.DomainAvailability
        )
        if exists.available:
            refuse(
                RefusalCode.CUSTOMER_NOT_FOUND,
                f"No Microsoft tenant uses the domain {domain}; order for a new customer instead.",
                domain=domain,
            )
        link = await steps.read(m.GET_RELATIONSHIP_LINK, m.NoInput(), m.RelationshipLink)
        waits = self.w._config.waits
        self.w._enter(Phase.WAITING_FOR_RELATIONSHIP)
        customer_id: str | None = None

        async def accepted() -> bool:
            nonlocal customer_id
            self.w._relationship_nudged = False
            found = await steps.read(
                m.FIND_CUSTOMER, m.FindCustomer(domain=domain), m.CustomerLookup
            )
            customer_id = found.customer_id
            return customer_id is not None

        await self.w._wait(
            WaitingFor.RELATIONSHIP,
            accepted,
            expires_after=waits.relationship_expires_after,
            pace=Pace(
                check_every=waits.relationship_poll_every,
                remind_every=waits.relationship_reminder_every,
                wake_min_gap=waits.relationship_nudge_min_gap,
            ),
            wake=lambda: self.w._relationship_nudged,
            check_first=False,
            relationship_link=link.url,
            expired=Refusal(
                code=RefusalCode.RELATIONSHIP_NOT_ACCEPTED,
                message="The customer's administrator did not accept the reseller invitation "
                "in time. Send the invitation link again and place a new order.",
            ),
        )
        return str(customer_id)

    async def _check_eligibility(
        self, order: OrderDocument, customer_id: str, offers: dict[str, OfferFacts]
    ) -> None:
        needed = qualifications_needed(order.lines)
        self.w._enter(Phase.CHECKING_ELIGIBILITY)
        qualifications = await steps.read(
            m.GET_QUALIFICATIONS, m.CustomerRef(customer_id=customer_id), m.Qualifications
        )
        # Only a new customer's order describes the school Microsoft is asked to vet.
        customer = order.customer
        school = customer.education if isinstance(customer, NewCustomer) else None
        if school is not None and education_vetting_to_request(
            needed,
            approved=qualifications.approved,
            in_review=qualifications.in_review,
            denied=qualifications.denied,
        ):
            qualifications = await steps.write(
                m.REQUEST_EDUCATION_VETTING,
                m.RequestEducationVetting(
                    request_id=request_id(order.order_id, ids.EDUCATION_VETTING),
                    customer_id=customer_id,
                    education=school,
                ),
                m.Qualifications,
            )
        if vetting_under_way(needed, in_review=qualifications.in_review):
            qualifications = await self._wait_for_vetting(customer_id, qualifications)
        self.w._approved_qualifications = frozenset(qualifications.approved)
        self.w._refuse_problems(
            eligibility_problems(
                order.lines,
                offers,
                approved=qualifications.approved,
                denied=qualifications.denied,
            )
        )

    async def _wait_for_vetting(
        self, customer_id: str, qualifications: m.Qualifications
    ) -> m.Qualifications:
        waits = self.w._config.waits
        if not waits.wait_for_education_vetting:
            refuse(
                RefusalCode.VETTING_NOT_FINISHED,
                "Microsoft is still vetting the customer for education plans; place the "
                "order again once it is approved.",
            )
        self.w._enter(Phase.WAITING_FOR_VETTING)

        async def decided() -> bool:
            nonlocal qualifications
            qualifications = await steps.read(
                m.GET_QUALIFICATIONS, m.CustomerRef(customer_id=customer_id), m.Qualifications
            )
            return EDUCATION not in qualifications.in_review

        await self.w._wait(
            WaitingFor.VETTING,
            decided,
            expires_after=waits.vetting_expires_after,
            pace=Pace(check_every=waits.vetting_poll_every),
            check_first=False,
            expired=Refusal(
                code=RefusalCode.VETTING_NOT_FINISHED,
                message="Microsoft did not finish vetting the customer for education plans in "
                "time; place the order again once it is approved.",
            ),
        )
        return qualifications

    async def _confirm_customer_agreement(self, order: OrderDocument, customer_id: str) -> None:
        self.w._enter(Phase.CONFIRMING_AGREEMENT)
        try:
            await steps.write(
                m.CONFIRM_CUSTOMER_AGREEMENT,
                m.ConfirmAgreement(
                    request_id=request_id(order.order_id, ids.CUSTOMER_AGREEMENT),
                    customer_id=customer_id,
                    acceptance=order.customer_agreement,
                ),
                m.AgreementConfirmed,
            )
        except steps.ACTIVITY_FAILURES as error:
            self.w._raise_partner_center_refusal(error)

    async def _take_customer_slot(self, order: OrderDocument, customer_id: str) -> None:
        self.w._enter(Phase.WAITING_FOR_CUSTOMER_SLOT)
        self.w._tracker.waiting_for(WaitingFor.CUSTOMER_SLOT)
        await self.w._slot.acquire(
            customer_id,
            order.order_id,
            lease=self.w._config.waits.customer_slot_lease,
            give_up=lambda: self.w._cancel_requested,
        )
        self.w._stop_if_cancelled()
        self.w._tracker.done_waiting()

    async def _plan(self, order: OrderDocument, customer_id: str) -> Plan:
        self.w._enter(Phase.PLANNING)
        subscriptions = await steps.read(
            m.READ_SUBSCRIPTIONS, m.CustomerRef(customer_id=customer_id), m.SubscriptionList
        )
        # Fresh catalog facts: availability ids change over time, and days may have passed.
        offers = await self._describe_offers(order)
        plan = plan_order(order.lines, self.w._config, offers, subscriptions.items)
        self.w._refuse_problems(
            order_problems(
                order.lines,
                offers,
                plan,
                subscriptions.items,
                Standing(approved=self.w._approved_qualifications),
                self.w._config,
            )
        )
        self.w._tracker.planned(plan)
        return plan

    async def _purchase_and_follow(self, order: OrderDocument, plan: Plan) -> None:
        customer_id = str(self.w._tracker.customer_id)
        self.w._enter(Phase.PURCHASING)
        creates = [p for p in plan.lines if p.action is LineAction.CREATE]
        adds = [p for p in plan.lines if p.action is LineAction.ADD_LICENCES]
        purchased: m.PurchaseResult | None = None
        if creates:
            purchased = await self._buy_new_subscriptions(order, customer_id, creates)
        for planned in adds:
            await self._add_licences(order, customer_id, planned)

        self.w._enter(Phase.PROVISIONING)
        await self._follow_provisioning(
            customer_id, purchased.orders if purchased is not None else [], adds
        )

    async def _follow_provisioning(
        self, customer_id: str, orders: list[m.PurchasedOrder], adds: list[PlannedLine]
    ) -> None:
        """Until Microsoft has provisioned what was ordered: each new subscription (by its
        Partner Center order), each added quantity (on its subscription)."""
        if orders or any(self.w._tracker.line_ordered(p.line) for p in adds):
            self.w._tracker.waiting_for(WaitingFor.PROVISIONING)
        waits = self.w._config.waits
        for pc_order in orders:
            try:
                provisioned = await steps.poll(
                    m.AWAIT_PROVISIONING,
                    m.ProvisioningCheck(customer_id=customer_id, order_id=pc_order.order_id),
                    m.ProvisionedOrder,
                    every=waits.provisioning_poll_every,
                    expires_after=waits.provisioning_expires_after,
                )
            except steps.ACTIVITY_FAILURES as error:
                for n in pc_order.lines:
                    self.w._tracker.line_failed(
                        n,
                        f"ordered at Microsoft (order {pc_order.order_id}), not fulfilled: "
                        f"{error.cause or error}",
                    )
                continue
            for n, subscription_id in zip(
                pc_order.lines, provisioned.subscription_ids, strict=True
            ):
                if subscription_id:
                    self.w._tracker.fulfilled(n, subscription_id)
                else:  # the order ended as a partial success
                    self.w._tracker.line_failed(
                        n,
                        f"ordered at Microsoft (order {pc_order.order_id}), which reports "
                        f"the order as {provisioned.status}; this line was not fulfilled",
                    )
        for planned in adds:
            if not self.w._tracker.line_ordered(planned.line):
                continue  # refused or failed: no new quantity to wait for
            try:
                await steps.poll(
                    m.AWAIT_QUANTITY,
                    m.SubscriptionQuery(
                        customer_id=customer_id,
                        subscription_id=str(planned.subscription_id),
                        quantity=planned.quantity_after,
                    ),
                    m.SubscriptionState,
                    every=waits.provisioning_poll_every,
                    expires_after=waits.provisioning_expires_after,
                )
            except steps.ACTIVITY_FAILURES as error:
                self.w._tracker.line_failed(
                    planned.line,
                    "the change was accepted; the new quantity did not show in time: "
                    f"{error.cause}",
                )
            else:
                self.w._tracker.fulfilled(planned.line)
        self.w._tracker.done_waiting()

    async def _buy_new_subscriptions(
        self, order: OrderDocument, customer_id: str, creates: list[PlannedLine]
    ) -> m.PurchaseResult | None:
        purchased: m.PurchaseResult | None = None
        for attempt in range(2):
            try:
                purchased = await self._purchase(order, customer_id, creates, attempt)
                break
            except steps.ACTIVITY_FAILURES as error:
                refusal = partner_center_refusal(error)
                stale = refusal is not None and refusal.partner_center_code == m.STALE_AVAILABILITY
                if attempt == 0 and stale:
                    # Availability ids change over time: read them again and buy once more.
                    creates = with_fresh_catalog(creates, await self._describe_offers(order))
                    continue
                self._purchase_failed(creates, error, refusal)
                return None
        assert purchased is not None
        for pc_order in purchased.orders:
            self.w._tracker.ordered(pc_order.lines, pc_order.order_id)
        for group in purchased.refused:  # refused by Microsoft, or not ordered because of it
            refusal = from_partner_center(group.refusal.code, group.refusal.description)
            if group.not_ordered is not None:
                refusal = refusal.model_copy(update={"message": group.not_ordered})
            for n in group.lines:
                self.w._tracker.line_refused(n, refusal)
        return purchased

    async def _purchase(
        self, order: OrderDocument, customer_id: str, creates: list[PlannedLine], attempt: int
    ) -> m.PurchaseResult:
        purchased: m.PurchaseResult = await steps.write(
            m.PURCHASE,
            m.Purchase(
                request_id=request_id(order.order_id, ids.purchase(attempt)),
                customer_id=customer_id,
                reseller_mpn_id=order.reseller.mpn_id if order.reseller else None,
                lines=[
                    m.PurchaseLine(
                        line=p.line,
                        catalog_item_id=str(p.catalog_item_id),
                        quantity=p.quantity,
                        billing_cycle=p.billing_cycle,
                        term_duration=p.term_duration,
                        friendly_name=p.title,
                    )
                    for p in creates
                ],
            ),
            m.PurchaseResult,
        )
        return purchased

    def _purchase_failed(
        self,
        creates: list[PlannedLine],
        error: ActivityError | ApplicationError,
        refusal: Refusal | None,
    ) -> None:
        for p in creates:
            if refusal is not None:
                self.w._tracker.line_refused(
                    p.line,
                    refusal.model_copy(
                        update={
                            "message": "Microsoft refused the checkout of the new "
                            f"subscriptions: {refusal.message}"
                        }
                    ),
                )
            else:  # not a refusal: whether Microsoft took the order is not known
                self.w._tracker.line_failed(
                    p.line,
                    f"the purchase did not complete ({error.cause}); it may have been "
                    "ordered at Microsoft: check the customer's subscriptions before ordering "
                    "it again",
                )

    async def _add_licences(
        self, order: OrderDocument, customer_id: str, planned: PlannedLine
    ) -> None:
        try:
            await steps.write(
                m.CHANGE_QUANTITY,
                m.ChangeQuantity(
                    request_id=request_id(order.order_id, ids.line_quantity(planned.line)),
                    customer_id=customer_id,
                    subscription_id=str(planned.subscription_id),
                    quantity=planned.quantity_after,
                ),
                m.SubscriptionState,
            )
        except steps.ACTIVITY_FAILURES as error:
            refusal = partner_center_refusal(error)
            if refusal is not None:
                self.w._tracker.line_refused(planned.line, refusal)
            else:
                self.w._tracker.line_failed(
                    planned.line,
                    f"the change did not complete ({error.cause}); the licences may have been "
                    "added at Microsoft: check the subscription before ordering them again",
                )
            return
        self.w._tracker.ordered([planned.line])
