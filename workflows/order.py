"""OrderWorkflow: one storefront order, from checks to provisioned subscriptions.

The run reads like the ordering rules (../shared/docs/ordering-rules.md):
reseller's partner agreement -> the customer (new: domain, billing address, tax ID, then
create; existing tenant: invitation link and wait; known: look up) -> segment eligibility per
line (education vetting may be waited for) -> customer agreement confirmed once -> the
customer's slot -> plan every line (lookup-or-create) -> nothing is bought unless every line
passed -> purchase -> follow provisioning -> result per line.

Everything that can refuse an order is checked before anything irreversible: a new customer is
created only when every line is known to be purchasable for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import messages as m
    from clients.contract import (
        CANCEL,
        PROVIDE_TAX_ID,
        RELATIONSHIP_ACCEPTED,
        SLOT_GRANTED_SIGNAL,
        STATUS,
        Arrival,
        CancelAccepted,
        CancelRequest,
        RelationshipNudge,
        SlotGrant,
        Submission,
        TaxIdAccepted,
        TaxIdSubmission,
    )
    from ordering.config import EngineConfig
    from ordering.current_details import current_details
    from ordering.document import NewCustomer, OrderDocument, Segment
    from ordering.feasibility import (
        Standing,
        catalog_problems,
        not_eligible,
        order_problems,
    )
    from ordering.outcome import incomplete_order, telling_what_exists
    from ordering.planning import LineAction, OfferFacts, Plan, PlannedLine, plan_order
    from ordering.refusals import (
        Problem,
        Refusal,
        RefusalCode,
        from_partner_center,
        invalid_input,
        refusal_for,
    )
    from ordering.segments import QUALIFICATION_FOR_SEGMENT, may_buy
    from ordering.status import (
        LineState,
        LineStatus,
        OrderOutcome,
        OrderStatus,
        Phase,
        Waiting,
        WaitingFor,
    )
    from ordering.tax_id import tax_id_required, validate_tax_id
    from ordering.validation import InvalidOrder, parse_order
    from workflows import metrics, steps
    from workflows.customer_slot import SlotHolder
    from workflows.refusals import partner_center_refusal, unreadable_input


class OrderRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class OrderCancelled(Exception):
    pass


def refuse(code: RefusalCode, message: str, **details: object) -> NoReturn:
    raise OrderRefused(Refusal(code=code, message=message, details=dict(details)))


# Since this change, an order that arrives in plain text is noted, and refused unless the worker
# runs with the development switch (earlier runs carried such orders through unnoted).
PLAIN_ORDERS_NOTED = "plain-orders-noted"
# Since this change, relationship nudges closer together than `relationship_nudge_min_gap` are
# folded into one check.
NUDGE_GAP = "relationship-nudge-gap"
NOT_ENCRYPTED = Refusal(
    code=RefusalCode.ORDER_NOT_ENCRYPTED,
    message="The order arrived unencrypted, so the engine did not process it and nothing was "
    "done in Partner Center. Place it again, under a new order id, through the storefront SDK "
    "or `csp-orders order place` with the engine's payload keys: they encrypt the customer's "
    "personal data.",
)


@workflow.defn
class OrderWorkflow:
    def __init__(self) -> None:
        self._status = OrderStatus(order_id="", phase=Phase.RECEIVED)
        self._order: OrderDocument | None = None
        self._tax_id: str | None = None
        self._tax_id_allowed = False
        self._relationship_nudged = False
        self._slot = SlotHolder()
        self._catalog_items: dict[str, str | None] = {}
        self._approved_qualifications: frozenset[str] = frozenset()
        self._customer_created = False
        self._purchase_refusals: dict[int, RefusalCode] = {}
        self._cancel_requested = False
        self._purchase_started = False
        self._config = EngineConfig()

    # ------------------------------------------------------------------ the order

    @workflow.run
    async def run(self, submission: Submission) -> OrderOutcome:
        try:
            if submission.arrival is Arrival.UNREADABLE:
                raise InvalidOrder([unreadable_input("order")])
            order = parse_order(submission.root)
        except InvalidOrder as invalid:
            refusal = invalid_input(RefusalCode.INVALID_ORDER, "order", invalid.problems)
            self._status.refusal = refusal
            self._status.phase = Phase.REFUSED
            self._publish()
            raise ApplicationError(
                refusal.message, refusal, type=refusal.code.value, non_retryable=True
            ) from None
        self._order = order
        self._status = OrderStatus(
            order_id=order.order_id,
            phase=Phase.RECEIVED,
            lines=[
                LineStatus(line=n, offer=line.offer, quantity=line.quantity)
                for n, line in enumerate(order.lines)
            ],
        )
        if isinstance(order.customer, NewCustomer):
            self._tax_id_allowed = True
        self._config = await steps.read(m.LOAD_ENGINE_CONFIG, m.NoInput(), EngineConfig)
        if submission.arrival is Arrival.PLAIN and workflow.patched(PLAIN_ORDERS_NOTED):
            self._note_unencrypted("order")
            if not self._config.accepts_unencrypted_orders:
                await self._finish(Phase.REFUSED, NOT_ENCRYPTED)
                raise ApplicationError(
                    NOT_ENCRYPTED.message,
                    NOT_ENCRYPTED,
                    type=NOT_ENCRYPTED.code.value,
                    non_retryable=True,
                )
        try:
            plan = await self._before_purchase(order)
        except (OrderCancelled, asyncio.CancelledError):
            await self._slot.release()
            return await self._finish(
                Phase.CANCELLED,
                telling_what_exists(
                    Refusal(
                        code=RefusalCode.CANCELLED,
                        message="The order was cancelled before anything was bought.",
                    ),
                    self._status.customer_id if self._customer_created else None,
                ),
            )
        except OrderRefused as refused:
            await self._slot.release()
            refusal = telling_what_exists(
                refused.refusal, self._status.customer_id if self._customer_created else None
            )
            await self._finish(Phase.REFUSED, refusal)
            raise ApplicationError(
                refusal.message, refusal, type=refusal.code.value, non_retryable=True
            ) from None

        # From here on the order is carried through: a cancellation no longer stops it.
        self._purchase_started = True
        self._status.cancellable = False
        self._publish()
        buying = asyncio.ensure_future(self._purchase_and_follow(order, plan))
        while True:
            try:
                await asyncio.shield(buying)
                break
            except asyncio.CancelledError:
                if buying.done():
                    break
                workflow.logger.info("cancellation ignored: the purchase has started")
        await self._slot.release()
        if any(line.state is not LineState.FULFILLED for line in self._status.lines):
            return await self._finish(
                Phase.FAILED,
                incomplete_order(
                    self._status.lines,
                    customer_id=self._status.customer_id,
                    customer_created=self._customer_created,
                    refusal_codes=self._purchase_refusals,
                ),
            )
        return await self._finish(Phase.COMPLETED, None)

    async def _before_purchase(self, order: OrderDocument) -> Plan:
        if order.reseller is not None:
            await self._check_reseller(order.reseller.mpn_id)
        offers = await self._describe_offers(order)
        if isinstance(order.customer, NewCustomer):
            # Everything knowable is judged before the customer exists: it takes the domain
            # for good. A new customer holds nothing and has no qualification yet.
            self._refuse_problems(
                order_problems(
                    order.lines,
                    offers,
                    plan_order(order.lines, self._config, offers, []),
                    [],
                    self._new_customer_standing(order.customer),
                    self._config,
                )
            )
        else:
            self._refuse_problems(catalog_problems(order.lines, offers))
        customer_id = await self._resolve_customer(order, offers)
        await self._check_eligibility(order, customer_id, offers)
        await self._confirm_customer_agreement(order, customer_id)
        await self._take_customer_slot(customer_id)
        return await self._plan(order, customer_id)

    # ------------------------------------------------------------------ reseller

    async def _check_reseller(self, mpn_id: str) -> None:
        self._enter(Phase.CHECKING_RESELLER)
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

    # ------------------------------------------------------------------ catalog

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
        self._catalog_items = {d.offer: d.catalog_item_id for d in catalog.offers}
        facts = {
            d.offer: OfferFacts(
                offer=d.offer,
                title=d.title or d.offer,
                found=d.found,
                purchasable=d.purchasable,
                sold_in_segment=d.catalog_item_id is not None,
                minimum_quantity=d.minimum_quantity,
                maximum_quantity=d.maximum_quantity,
            )
            for d in catalog.offers
        }
        for line in self._status.lines:
            line.title = facts[line.offer].title if facts[line.offer].found else None
        return facts

    def _refuse_problems(self, problems: list[Problem]) -> None:
        """Refuse the order with every problem found, each line marked with its own."""
        if not problems:
            return
        for problem in problems:
            for n in problem.lines:
                line = self._status.lines[n]
                line.state = LineState.REFUSED
                line.problem = problem.message if line.problem is None else line.problem
        raise OrderRefused(refusal_for(problems))

    def _new_customer_standing(self, customer: NewCustomer) -> Standing:
        # A new school's vetting is requested once it exists; it may plan for it only where the
        # engine will wait for the verdict (else nothing it could buy would be known in time).
        vetted = customer.education is not None and self._config.waits.wait_for_education_vetting
        return Standing(to_be_vetted=frozenset({"Education"}) if vetted else frozenset())

    # ------------------------------------------------------------------ the customer

    async def _resolve_customer(self, order: OrderDocument, offers: dict[str, OfferFacts]) -> str:
        self._enter(Phase.RESOLVING_CUSTOMER)
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
            return self._customer_known(found.customer_id)
        if customer.kind == "existing_tenant":
            return self._customer_known(await self._wait_for_relationship(customer.domain))
        return self._customer_known(await self._create_customer(order, customer, offers))

    def _customer_known(self, customer_id: str) -> str:
        self._status.customer_id = customer_id
        workflow.upsert_search_attributes([steps.CUSTOMER_ID.value_set(customer_id)])
        self._publish()
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
        if self._config.billing_address_required:
            await self._check_billing_address(customer)
        tax_id = await self._collect_tax_id(customer)

        self._enter(Phase.CREATING_CUSTOMER)
        self._tax_id_allowed = False
        try:
            created = await steps.write(
                m.CREATE_CUSTOMER,
                m.CreateCustomer(
                    request_id=f"{order.order_id}:create-customer",
                    customer=customer,
                    tax_id=tax_id,
                    reseller_tenant_id=order.reseller.tenant_id if order.reseller else None,
                ),
                m.CustomerRef,
            )
        except steps.ACTIVITY_FAILURES as error:
            self._raise_partner_center_refusal(error)
        self._customer_created = True
        return str(created.customer_id)

    async def _check_billing_address(self, customer: NewCustomer) -> None:
        self._enter(Phase.CHECKING_ADDRESS)
        missing = customer.billing_address.missing_fields()
        if not customer.phone and tax_id_required(
            customer.country, workflow.now().date(), self._config.tax_id_requirements
        ):
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

    async def _collect_tax_id(self, customer: NewCustomer) -> str | None:
        """The tax ID for a new tenant: the order's, or one supplied later while the order waits
        (reminding, and expiring after the configured time), when Microsoft requires it."""
        required = tax_id_required(
            customer.country, workflow.now().date(), self._config.tax_id_requirements
        )
        if required and not customer.phone:
            refuse(
                RefusalCode.BILLING_ADDRESS_INCOMPLETE,
                f"Microsoft requires a phone number for customers in {customer.country}.",
                missing_fields=["phone"],
            )
        problem: str | None = None
        if customer.tax_id:
            verdict = validate_tax_id(customer.country, customer.tax_id)
            if verdict.valid:
                return verdict.value
            problem = verdict.reason
        if self._tax_id is not None:
            return self._tax_id
        if not required:
            if problem is not None:
                refuse(RefusalCode.CUSTOMER_REJECTED, problem)
            return None

        waits = self._config.waits
        self._enter(Phase.WAITING_FOR_TAX_ID)

        async def supplied() -> bool:
            return self._tax_id is not None

        await self._wait_until(
            Waiting(
                what=WaitingFor.TAX_ID,
                since=workflow.now(),
                expires_at=workflow.now() + waits.tax_id_expires_after,
                last_problem=problem,
            ),
            supplied,
            check_every=waits.tax_id_reminder_every,
            remind_every=waits.tax_id_reminder_every,
            wake=lambda: self._tax_id is not None,
            expired=Refusal(
                code=RefusalCode.TAX_ID_NOT_PROVIDED,
                message=f"Microsoft requires the customer's tax ID for {customer.country} and "
                "none was provided in time.",
            ),
        )
        return self._tax_id

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
        waits = self._config.waits
        self._enter(Phase.WAITING_FOR_RELATIONSHIP)
        customer_id: str | None = None

        async def accepted() -> bool:
            nonlocal customer_id
            self._relationship_nudged = False
            found = await steps.read(
                m.FIND_CUSTOMER, m.FindCustomer(domain=domain), m.CustomerLookup
            )
            customer_id = found.customer_id
            return customer_id is not None

        await self._wait_until(
            Waiting(
                what=WaitingFor.RELATIONSHIP,
                since=workflow.now(),
                expires_at=workflow.now() + waits.relationship_expires_after,
                relationship_link=link.url,
            ),
            accepted,
            check_every=waits.relationship_poll_every,
            remind_every=waits.relationship_reminder_every,
            wake=lambda: self._relationship_nudged,
            wake_min_gap=waits.relationship_nudge_min_gap,
            check_first=False,
            expired=Refusal(
                code=RefusalCode.RELATIONSHIP_NOT_ACCEPTED,
                message="The customer's administrator did not accept the reseller invitation "
                "in time. Send the invitation link again and place a new order.",
            ),
        )
        return str(customer_id)

    # ------------------------------------------------------------------ eligibility

    async def _check_eligibility(
        self, order: OrderDocument, customer_id: str, offers: dict[str, OfferFacts]
    ) -> None:
        needed = {
            QUALIFICATION_FOR_SEGMENT[line.segment]
            for line in order.lines
            if line.segment is not Segment.COMMERCIAL
        }
        self._enter(Phase.CHECKING_ELIGIBILITY)
        qualifications = await steps.read(
            m.GET_QUALIFICATIONS, m.CustomerRef(customer_id=customer_id), m.Qualifications
        )
        self._approved_qualifications = frozenset(qualifications.approved)
        government_only = "GovernmentCommunityCloud" in qualifications.approved
        if not needed and not government_only:
            return
        customer = order.customer
        if (
            "Education" in needed
            and "Education" not in qualifications.approved
            and "Education" not in qualifications.in_review
            and "Education" not in qualifications.denied
            and isinstance(customer, NewCustomer)
            and customer.education is not None
        ):
            qualifications = await steps.write(
                m.REQUEST_EDUCATION_VETTING,
                m.RequestEducationVetting(
                    request_id=f"{order.order_id}:education-vetting",
                    customer_id=customer_id,
                    education=customer.education,
                ),
                m.Qualifications,
            )
        if "Education" in needed and "Education" in qualifications.in_review:
            qualifications = await self._wait_for_vetting(customer_id, qualifications)
        self._approved_qualifications = frozenset(qualifications.approved)
        problems = []
        for n, line in enumerate(order.lines):
            if may_buy(line.segment, set(qualifications.approved)):
                continue
            qualification = QUALIFICATION_FOR_SEGMENT.get(line.segment)
            if qualification and qualification in qualifications.denied:
                problems.append(
                    Problem(
                        code=RefusalCode.VETTING_DENIED,
                        message=f"Microsoft did not approve the customer as {qualification}; "
                        f"it cannot buy {offers[line.offer].title}.",
                        lines=[n],
                    )
                )
            else:
                problems.append(not_eligible(n, offers[line.offer].title, line.segment))
        self._refuse_problems(problems)

    async def _wait_for_vetting(
        self, customer_id: str, qualifications: m.Qualifications
    ) -> m.Qualifications:
        waits = self._config.waits
        if not waits.wait_for_education_vetting:
            refuse(
                RefusalCode.VETTING_NOT_FINISHED,
                "Microsoft is still vetting the customer for education plans; place the "
                "order again once it is approved.",
            )
        self._enter(Phase.WAITING_FOR_VETTING)

        async def decided() -> bool:
            nonlocal qualifications
            qualifications = await steps.read(
                m.GET_QUALIFICATIONS, m.CustomerRef(customer_id=customer_id), m.Qualifications
            )
            return "Education" not in qualifications.in_review

        await self._wait_until(
            Waiting(
                what=WaitingFor.VETTING,
                since=workflow.now(),
                expires_at=workflow.now() + waits.vetting_expires_after,
            ),
            decided,
            check_every=waits.vetting_poll_every,
            remind_every=None,
            check_first=False,
            expired=Refusal(
                code=RefusalCode.VETTING_NOT_FINISHED,
                message="Microsoft did not finish vetting the customer for education plans in "
                "time; place the order again once it is approved.",
            ),
        )
        return qualifications

    async def _wait_until(
        self,
        waiting: Waiting,
        done: Callable[[], Awaitable[bool]],
        *,
        check_every: timedelta,
        remind_every: timedelta | None,
        expired: Refusal,
        wake: Callable[[], bool] = lambda: False,
        wake_min_gap: timedelta | None = None,
        check_first: bool = True,
    ) -> None:
        """Wait durably until `done()`: asking again every `check_every` and whenever `wake()`
        turns true, counting reminders every `remind_every`, refusing with `expired` once
        `waiting.expires_at` has passed. The status shows what the order waits for meanwhile.
        `check_first=False` when the caller has just checked. A `wake()` sooner than
        `wake_min_gap` after the last check it caused waits for the gap's end, so a burst of
        nudges costs Partner Center one call per gap."""
        assert waiting.expires_at is not None
        deadline = waiting.expires_at
        next_reminder = waiting.since + remind_every if remind_every else None
        self._set_waiting(waiting)
        if check_first and await done():
            self._set_waiting(None)
            return
        woken_at: datetime | None = None
        while True:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                raise OrderRefused(expired)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: wake() or self._cancel_requested,
                    timeout=min(check_every, remaining),
                )
            self._checkpoint()
            if wake() and wake_min_gap is not None:
                since = workflow.now() - woken_at if woken_at is not None else None
                left = (
                    min(wake_min_gap - since, deadline - workflow.now())
                    if since is not None
                    else None
                )
                if left is not None and left > timedelta(0) and workflow.patched(NUDGE_GAP):
                    with contextlib.suppress(TimeoutError):
                        await workflow.wait_condition(lambda: self._cancel_requested, timeout=left)
                    self._checkpoint()
                woken_at = workflow.now()
            now = workflow.now()
            if remind_every and next_reminder is not None and next_reminder <= now < deadline:
                waiting.reminders_sent += 1
                next_reminder += remind_every
                workflow.logger.info("reminder %d sent", waiting.reminders_sent)
                self._publish()
            if await done():
                break
        self._set_waiting(None)

    # ------------------------------------------------------------------ agreement

    async def _confirm_customer_agreement(self, order: OrderDocument, customer_id: str) -> None:
        self._enter(Phase.CONFIRMING_AGREEMENT)
        try:
            await steps.write(
                m.CONFIRM_CUSTOMER_AGREEMENT,
                m.ConfirmAgreement(
                    request_id=f"{order.order_id}:customer-agreement",
                    customer_id=customer_id,
                    acceptance=order.customer_agreement,
                ),
                m.AgreementConfirmed,
            )
        except steps.ACTIVITY_FAILURES as error:
            self._raise_partner_center_refusal(error)

    # ------------------------------------------------------------------ the customer's slot

    async def _take_customer_slot(self, customer_id: str) -> None:
        self._enter(Phase.WAITING_FOR_CUSTOMER_SLOT)
        self._set_waiting(Waiting(what=WaitingFor.CUSTOMER_SLOT, since=workflow.now()))
        await self._slot.acquire(
            customer_id, self._status.order_id, give_up=lambda: self._cancel_requested
        )
        self._checkpoint()
        self._set_waiting(None)

    # ------------------------------------------------------------------ plan and buy

    async def _plan(self, order: OrderDocument, customer_id: str) -> Plan:
        self._enter(Phase.PLANNING)
        subscriptions = await steps.read(
            m.READ_SUBSCRIPTIONS, m.CustomerRef(customer_id=customer_id), m.SubscriptionList
        )
        # Fresh catalog facts: availability ids change over time, and days may have passed.
        offers = await self._describe_offers(order)
        plan = plan_order(order.lines, self._config, offers, subscriptions.items)
        self._refuse_problems(
            order_problems(
                order.lines,
                offers,
                plan,
                subscriptions.items,
                Standing(approved=self._approved_qualifications),
                self._config,
            )
        )
        for planned in plan.lines:
            line = self._status.lines[planned.line]
            line.state = LineState.PLANNED
            line.action = planned.action
            line.subscription_id = planned.subscription_id
            line.quantity_before = planned.quantity_before
            line.quantity_after = planned.quantity_after
        self._publish()
        return plan

    async def _purchase_and_follow(self, order: OrderDocument, plan: Plan) -> None:
        customer_id = str(self._status.customer_id)
        self._enter(Phase.PURCHASING)
        creates = [p for p in plan.lines if p.action is LineAction.CREATE]
        adds = [p for p in plan.lines if p.action is LineAction.ADD_LICENCES]
        purchased: m.PurchaseResult | None = None
        if creates:
            purchased = await self._buy_new_subscriptions(order, customer_id, creates)
        for planned in adds:
            await self._add_licences(order, customer_id, planned)

        self._enter(Phase.PROVISIONING)
        waits = self._config.waits
        if purchased is not None:
            for pc_order in purchased.orders:
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
                        self._line_failed(
                            n,
                            f"ordered at Microsoft (order {pc_order.order_id}), not fulfilled: "
                            f"{error.cause or error}",
                        )
                    continue
                for n, subscription_id in zip(
                    pc_order.lines, provisioned.subscription_ids, strict=True
                ):
                    if not subscription_id:  # the order ended as a partial success
                        self._line_failed(
                            n,
                            f"ordered at Microsoft (order {pc_order.order_id}), which reports "
                            f"the order as {provisioned.status}; this line was not fulfilled",
                        )
                        continue
                    line = self._status.lines[n]
                    line.subscription_id = subscription_id
                    line.state = LineState.FULFILLED
                self._publish()
        for planned in adds:
            line = self._status.lines[planned.line]
            if line.state is not LineState.ORDERED:
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
                line.state = LineState.FULFILLED
                self._publish()
            except steps.ACTIVITY_FAILURES as error:
                self._line_failed(
                    planned.line,
                    "the change was accepted; the new quantity did not show in time: "
                    f"{error.cause}",
                )

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
                    await self._describe_offers(order)
                    continue
                self._purchase_failed(creates, error, refusal)
                return None
        assert purchased is not None
        for pc_order in purchased.orders:
            for n in pc_order.lines:
                self._status.lines[n].state = LineState.ORDERED
                self._status.lines[n].partner_center_order_id = pc_order.order_id
        for group in purchased.refused:  # refused by Microsoft, or not ordered because of it
            refusal = from_partner_center(group.refusal.code, group.refusal.description)
            if group.not_ordered is not None:
                refusal = refusal.model_copy(update={"message": group.not_ordered})
            for n in group.lines:
                self._line_refused(n, refusal)
        self._publish()
        return purchased

    async def _purchase(
        self, order: OrderDocument, customer_id: str, creates: list[PlannedLine], attempt: int
    ) -> m.PurchaseResult:
        suffix = "" if attempt == 0 else f":{attempt + 1}"
        purchased: m.PurchaseResult = await steps.write(
            m.PURCHASE,
            m.Purchase(
                request_id=f"{order.order_id}:purchase{suffix}",
                customer_id=customer_id,
                reseller_mpn_id=order.reseller.mpn_id if order.reseller else None,
                lines=[
                    m.PurchaseLine(
                        line=p.line,
                        catalog_item_id=str(self._catalog_items[p.offer]),
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
                self._line_refused(
                    p.line,
                    refusal.model_copy(
                        update={
                            "message": "Microsoft refused the checkout of the new "
                            f"subscriptions: {refusal.message}"
                        }
                    ),
                )
            else:  # not a refusal: whether Microsoft took the order is not known
                self._line_failed(
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
                    request_id=f"{order.order_id}:line-{planned.line}:quantity",
                    customer_id=customer_id,
                    subscription_id=str(planned.subscription_id),
                    quantity=planned.quantity_after,
                ),
                m.SubscriptionState,
            )
        except steps.ACTIVITY_FAILURES as error:
            refusal = partner_center_refusal(error)
            if refusal is not None:
                self._line_refused(planned.line, refusal)
            else:
                self._line_failed(
                    planned.line,
                    f"the change did not complete ({error.cause}); the licences may have been "
                    "added at Microsoft: check the subscription before ordering them again",
                )
            return
        self._status.lines[planned.line].state = LineState.ORDERED
        self._publish()

    def _line_refused(self, n: int, refusal: Refusal) -> None:
        """Microsoft refused this line at purchase: nothing was bought for it."""
        self._purchase_refusals[n] = refusal.code
        line = self._status.lines[n]
        line.state = LineState.REFUSED
        line.problem = refusal.message
        self._publish()

    def _line_failed(self, n: int, problem: str) -> None:
        line = self._status.lines[n]
        line.state = LineState.FAILED
        line.problem = problem
        self._publish()

    # ------------------------------------------------------------------ bookkeeping

    def _enter(self, phase: Phase) -> None:
        self._checkpoint()
        self._status.phase = phase
        workflow.upsert_search_attributes([steps.PHASE.value_set(phase.value)])
        self._publish()
        metrics.phase_entered(phase.value)

    def _set_waiting(self, waiting: Waiting | None) -> None:
        self._status.waiting = waiting
        self._publish()

    def _publish(self) -> None:
        """After every change of the status: its time, and the UI's current details."""
        self._status.updated_at = workflow.now()
        workflow.set_current_details(current_details(self._status))

    def _checkpoint(self) -> None:
        if self._cancel_requested and not self._purchase_started:
            raise OrderCancelled()

    def _raise_partner_center_refusal(self, error: ActivityError | ApplicationError) -> NoReturn:
        refusal = partner_center_refusal(error)
        if refusal is None:
            raise error
        raise OrderRefused(refusal)

    async def _finish(self, phase: Phase, refusal: Refusal | None) -> OrderOutcome:
        self._status.waiting = None
        self._status.refusal = refusal
        self._status.cancellable = False
        self._status.phase = phase
        workflow.upsert_search_attributes([steps.PHASE.value_set(phase.value)])
        self._publish()
        metrics.order_ended(phase.value, refusal.code.value if refusal else None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OrderOutcome(
            order_id=self._status.order_id,
            phase=phase,
            customer_id=self._status.customer_id,
            lines=self._status.lines,
            refusal=refusal,
            unencrypted_inputs=self._status.unencrypted_inputs,
        )

    # ------------------------------------------------------------------ handlers

    @workflow.query(name=STATUS)
    def status(self) -> OrderStatus:
        return self._status

    @workflow.signal(name=PROVIDE_TAX_ID)
    def provide_tax_id_signal(self, submission: TaxIdSubmission) -> None:
        """Plain signal (e.g. from the `temporal` CLI): an invalid tax ID is noted on the
        status and the order keeps waiting. One sent unencrypted is taken, and noted."""
        if submission.arrival is Arrival.PLAIN:
            self._note_unencrypted("tax_id")
        problem = self._tax_id_problem(submission.tax_id)
        if problem is not None:
            if self._status.waiting is not None:
                self._status.waiting.last_problem = problem
                self._publish()
            workflow.logger.info("tax ID not accepted")
            return
        self._accept_tax_id(submission.tax_id)

    @workflow.update(name=PROVIDE_TAX_ID)
    def provide_tax_id(self, submission: TaxIdSubmission) -> TaxIdAccepted:
        if submission.arrival is Arrival.PLAIN:
            self._note_unencrypted("tax_id")
        self._accept_tax_id(submission.tax_id)
        return TaxIdAccepted()

    @provide_tax_id.validator
    def _validate_tax_id(self, submission: TaxIdSubmission) -> None:
        problem = self._tax_id_problem(submission.tax_id)
        if problem is not None:
            raise ValueError(problem)

    def _tax_id_problem(self, tax_id: str) -> str | None:
        if self._order is None or not isinstance(self._order.customer, NewCustomer):
            return (
                "A tax ID is only taken for a new customer; it is never sent for an existing one."
            )
        if not self._tax_id_allowed:
            return "The customer has already been created; its tax ID can no longer change here."
        return validate_tax_id(self._order.customer.country, tax_id).reason

    def _accept_tax_id(self, tax_id: str) -> None:
        assert self._order is not None and isinstance(self._order.customer, NewCustomer)
        verdict = validate_tax_id(self._order.customer.country, tax_id)
        self._tax_id = verdict.value
        if self._status.waiting is not None:
            self._status.waiting.last_problem = None
            self._publish()

    def _note_unencrypted(self, what: str) -> None:
        """An input arrived in plain text: it stays readable in this order's history. Operators
        see it on the status and in the UI's details, and in the worker's log."""
        if what not in self._status.unencrypted_inputs:
            self._status.unencrypted_inputs.append(what)
            self._publish()
        workflow.logger.warning("input arrived unencrypted: %s", what)

    @workflow.signal(name=RELATIONSHIP_ACCEPTED)
    def relationship_accepted(self, _: RelationshipNudge) -> None:
        self._relationship_nudged = True

    @workflow.signal(name=SLOT_GRANTED_SIGNAL)
    def customer_slot_granted(self, grant: SlotGrant) -> None:
        self._slot.granted(grant)

    @workflow.update(name=CANCEL)
    def cancel(self, request: CancelRequest) -> CancelAccepted:
        self._cancel_requested = True
        return CancelAccepted()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self._purchase_started or self._status.phase.final:
            raise ValueError(
                "The order can no longer be cancelled: the purchase has started "
                "or the order has ended."
            )
