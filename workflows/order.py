"""OrderWorkflow: one storefront order, from checks to provisioned subscriptions.

The run reads like the ordering rules (../shared/docs/ordering-rules.md):
reseller's partner agreement -> catalog facts -> the customer (new: domain, billing address, tax
ID, then create; existing tenant: invitation link and wait; known: its qualifications, which
also prove it exists) -> segment eligibility per line (education vetting may be waited for) ->
customer agreement confirmed once -> the customer's slot -> plan every line (lookup-or-create)
-> nothing is bought unless every line passed -> purchase -> follow provisioning -> result per
line.

Everything that can refuse an order is checked before anything irreversible: a new customer is
created only when every line is known to be purchasable for it.

Partner Center is asked as little as the rules allow (docs/PERFORMANCE.md lists each scenario's
requests): catalog facts and the agreement's template come from the worker's memory when it has
them; nothing is read that the order itself has just created (a new customer's qualifications,
agreements and subscriptions); the customer's slot and subscriptions only where the plan depends
on them. Every Partner Center step sends one request per attempt, as a local activity (or, for
the writes that cannot be undone, a regular one: workflows/steps.py), under the cap all workers
share (workers/partner_center_cap.py).

The decisions are `ordering/`'s (pure, tested alone); what the storefront and operators see
(status, current details, search attributes, metrics) is the tracker's (`workflows/tracker.py`),
told in intent-named transitions; waiting for days (poll, wake, remind, expire) is
`workflows/waiting.py`'s. Orders started by the first release, before the Partner Center queue,
finish on their own course (`workflows/order_first_release.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities import messages as m
    from clients.contract import (
        CANCEL,
        MISSING_SUBMISSION,
        MISSING_TAX_ID,
        NO_NUDGE,
        ORDER_ENDED_REJECTION,
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
        order_id_of,
        request_scope,
    )
    from clients.subscription_lifecycle import FulfilledLine, PurchasesRecord
    from ordering import checks
    from ordering import request_ids as ids
    from ordering.config import EngineConfig
    from ordering.document import EducationDetails, NewCustomer, OrderDocument
    from ordering.eligibility import (
        EDUCATION,
        education_vetting_to_request,
        eligibility_problems,
        new_customer_standing,
        qualifications_needed,
        vetting_under_way,
    )
    from ordering.events import ORDER_EVENTS, order_event, personal_values
    from ordering.feasibility import Standing, catalog_problems, order_problems
    from ordering.outcome import telling_what_exists
    from ordering.planning import (
        ExistingSubscription,
        LineAction,
        OfferFacts,
        Plan,
        PlannedLine,
        depends_on_subscriptions,
        plan_order,
        with_fresh_catalog,
    )
    from ordering.refund_windows import PurchaseAction, RefundWindow, window_closes_at
    from ordering.refusals import (
        ENGINE_FAILURE,
        Problem,
        Refusal,
        RefusalCode,
        from_partner_center,
        invalid_input,
        refusal_for,
    )
    from ordering.request_ids import request_id
    from ordering.status import LineState, OrderOutcome, OrderStatus, Phase, WaitingFor
    from ordering.tax_id import phone_missing, validate_tax_id
    from ordering.validation import InvalidOrder, parse_order
    from workflows import steps
    from workflows.catalog import catalog_query, read_catalog
    from workflows.customer_slot import SlotHolder
    from workflows.order_first_release import FirstReleaseCourse
    from workflows.refusals import (
        OrderCancelled,
        OrderRefused,
        failure,
        partner_center_refusal,
        unreadable_input,
    )
    from workflows.tracker import OrderTracker
    from workflows.waiting import Pace, WaitEnded, never, wait_until
    from workflows.webhooks import WebhookOutbox

R = TypeVar("R")

# Since this change, an order asks Partner Center one request per step, and leaves out what it
# need not read. Runs started before take the first release's course. (The marker's name is from
# an earlier design, in which the steps ran on a task queue of their own; it stays as named.)
PARTNER_CENTER_QUEUE = "partner-center-queue"
# Since this change, an order that arrives in plain text is noted, and refused unless the worker
# runs with the development switch (earlier runs carried such orders through unnoted).
PLAIN_ORDERS_NOTED = "plain-orders-noted"
# Since this change, an order that bought something reads the refund windows of what it bought,
# shows them on its lines, and tells its customer's subscriptions workflow before it gives the
# customer's slot back (workflows/customer_subscriptions.py).
REFUND_WINDOWS = "refund-windows"
# Since this change, Microsoft's refusal of a read before the purchase (the catalog, the
# reseller, the domain, the customer, its qualifications or agreements, its subscriptions; in
# the first release's course also its education vetting request, which changes nothing when
# refused) refuses the order with Microsoft's words and what exists, as the dry run reports it;
# earlier runs failed with an engine error that told the storefront some of the order might
# have been carried out.
READS_REFUSED = "partner-center-reads-refused"
NOT_ENCRYPTED = Refusal(
    code=RefusalCode.ORDER_NOT_ENCRYPTED,
    message="The order arrived unencrypted, so the engine did not process it and nothing was "
    "done in Partner Center. Place it again, under a new order id, through the storefront SDK "
    "or `csp-orders order place` with the engine's payload keys: they encrypt the customer's "
    "personal data.",
)
CANCELLED_BEFORE_PURCHASE = Refusal(
    code=RefusalCode.CANCELLED, message="The order was cancelled before anything was bought."
)


# Versioned deploys: pinned to its build, as its task queue's worker is (docs/VERSIONING.md).
@workflow.defn
class OrderWorkflow:
    def __init__(self) -> None:
        self._tracker = OrderTracker()
        self._order: OrderDocument | None = None
        self._tax_id: str | None = None
        self._tax_id_allowed = False
        self._relationship_nudged = False
        self._slot = SlotHolder()
        self._approved_qualifications: frozenset[str] = frozenset()
        self._cancel_requested = False
        self._config = EngineConfig()
        # The lean course's own: when the catalog facts were read, the qualifications read
        # with a known customer, and whether this order's customer has only ever been its own.
        self._catalog_read_at: datetime | None = None
        self._qualifications: m.Qualifications | None = None
        self._undisturbed = False
        self._holds_slot = False
        self._slot_given_back = False
        # What this order's Partner Center request ids derive from (its id, with its storefront)
        self._request_scope = ""
        # Where the order's events go, when a storefront placed it (its webhooks)
        self._webhooks = WebhookOutbox()
        # The refund windows Partner Center reported with the licences each line added
        self._windows: dict[int, RefundWindow | None] = {}

    # ------------------------------------------------------------------ the order

    @workflow.run
    async def run(self, submission: Submission = MISSING_SUBMISSION) -> OrderOutcome:
        try:
            return await self._run(submission)
        except FailureError:
            # A step failed for good with an error that is no refusal (the order's run fails):
            # its storefront hears that it failed, as of every other ending.
            await self._notify_engine_failure()
            raise

    async def _run(self, submission: Submission) -> OrderOutcome:
        try:
            if submission.arrival is Arrival.UNREADABLE:
                raise InvalidOrder([unreadable_input("order")])
            order = parse_order(submission.root, as_recorded=True)
        except InvalidOrder as invalid:
            refusal = invalid_input(RefusalCode.INVALID_ORDER, "order", invalid.problems)
            self._tracker.refused(refusal)
            await self._notify_and_hand_over()
            raise failure(refusal) from None
        self._order = order
        self._request_scope = request_scope(workflow.info().workflow_id, order.order_id)
        self._tracker.received(order)
        if isinstance(order.customer, NewCustomer):
            self._tax_id_allowed = True
        lean = workflow.patched(PARTNER_CENTER_QUEUE)
        first_release = FirstReleaseCourse(self)
        prepared: m.PreparedOrder | None = None
        if lean:
            self._tracker.defer_search_attributes()
            prepared = await steps.read(m.PREPARE_ORDER, catalog_query(order), m.PreparedOrder)
            self._config = prepared.config
        else:
            self._config = await steps.read(m.LOAD_ENGINE_CONFIG, m.NoInput(), EngineConfig)
        self._webhooks.schedule(self._config.webhooks)
        if submission.arrival is Arrival.PLAIN and workflow.patched(PLAIN_ORDERS_NOTED):
            self._tracker.note_unencrypted("order")
            if not self._config.accepts_unencrypted_orders:
                await self._finish(Phase.REFUSED, NOT_ENCRYPTED)
                raise failure(NOT_ENCRYPTED)
        try:
            if prepared is not None:
                plan = await self._before_purchase(order, prepared)
            else:
                plan = await first_release._before_purchase(order)
        except (OrderCancelled, asyncio.CancelledError):
            await self._slot.release()
            return await self._finish(
                Phase.CANCELLED,
                telling_what_exists(CANCELLED_BEFORE_PURCHASE, self._tracker.created_customer_id),
            )
        except OrderRefused as refused:
            raise await self._refused_before_purchase(refused.refusal) from None
        except steps.ACTIVITY_FAILURES as error:
            read_refused = partner_center_refusal(error)
            if read_refused is None or not workflow.patched(READS_REFUSED):
                raise
            raise await self._refused_before_purchase(read_refused) from None

        # From here on the order is carried through: a cancellation no longer stops it.
        self._tracker.purchase_started()
        if prepared is not None:
            await carried_through(self._purchase_and_follow(order, plan))
        else:
            await carried_through(first_release._purchase_and_follow(order, plan))
        await self._slot.release()
        if not self._tracker.fulfilled_every_line:
            return await self._finish(Phase.FAILED, self._tracker.what_is_incomplete())
        return await self._finish(Phase.COMPLETED, None)

    async def _refused_before_purchase(self, refusal: Refusal) -> ApplicationError:
        """The order ends refused before anything was bought: the slot is given back, the
        refusal says what exists (a customer created for it), and the failure to raise."""
        await self._slot.release()
        refusal = telling_what_exists(refusal, self._tracker.created_customer_id)
        await self._finish(Phase.REFUSED, refusal)
        return failure(refusal)

    async def _before_purchase(self, order: OrderDocument, prepared: m.PreparedOrder) -> Plan:
        if order.reseller is not None:
            await self._check_reseller(order.reseller.mpn_id)
        offers = await self._catalog(order, prepared.catalog)
        if isinstance(order.customer, NewCustomer):
            # Everything knowable is judged before the customer exists: it takes the domain
            # for good. A new customer holds nothing and has no qualification yet.
            standing = new_customer_standing(
                school=order.customer.education is not None,
                waits_for_vetting=self._config.waits.wait_for_education_vetting,
            )
            plan = plan_order(order.lines, self._config, offers, [])
            self._refuse_problems(
                order_problems(order.lines, offers, plan, [], standing, self._config)
            )
        else:
            self._refuse_problems(catalog_problems(order.lines, offers))
        customer_id = await self._resolve_customer(order)
        await self._check_eligibility(order, customer_id, offers)
        await self._confirm_customer_agreement(order, customer_id, prepared.agreement_template_id)
        # (its creator took the slot at once, unless it gave it back to wait)
        if self._tracker.created_customer_id is None or self._slot_given_back:
            await self._take_customer_slot(order, customer_id)
        return await self._plan(order, customer_id, offers)

    # ------------------------------------------------------------------ reseller

    async def _check_reseller(self, mpn_id: str) -> None:
        self._enter(Phase.CHECKING_RESELLER)
        status = await steps.ask(
            m.CHECK_RESELLER, m.ResellerCheck(mpn_id=mpn_id), m.ResellerAgreement
        )
        _refuse_with(
            checks.reseller_refusal(
                mpn_id, known=status.known, signed=status.signed, ineligible=status.ineligible
            )
        )

    # ------------------------------------------------------------------ catalog

    async def _catalog(
        self,
        order: OrderDocument,
        remembered: m.CachedCatalog | None = None,
        *,
        fresh: bool = False,
    ) -> dict[str, OfferFacts]:
        """Catalog facts for every line: what the worker remembers (`remembered`, or asked
        now), the rest read from Partner Center; `fresh` reads the availabilities again
        whatever is remembered (Microsoft said an id is stale)."""
        if remembered is None and not fresh:
            remembered = await steps.read(m.CACHED_CATALOG, catalog_query(order), m.CachedCatalog)
        facts = await read_catalog(order, remembered, fresh=fresh)
        self._catalog_read_at = workflow.now()
        self._tracker.offers_described(facts)
        return facts

    def _catalog_is_old(self) -> bool:
        """Read longer ago than the configuration trusts catalog facts (the order waited)."""
        return (
            self._catalog_read_at is None
            or workflow.now() - self._catalog_read_at >= self._config.catalog_max_age
        )

    def _refuse_problems(self, problems: list[Problem]) -> None:
        """Refuse the order with every problem found, each line marked with its own."""
        if not problems:
            return
        self._tracker.problems_found(problems)
        raise OrderRefused(refusal_for(problems))

    # ------------------------------------------------------------------ the customer

    async def _resolve_customer(self, order: OrderDocument) -> str:
        self._enter(Phase.RESOLVING_CUSTOMER)
        customer = order.customer
        if customer.kind == "known":
            # Its qualifications are read anyway (who may buy what); Partner Center answers
            # them only for a customer of this partner: the read is also the existence check.
            self._qualifications = await self._read_qualifications(customer.customer_id)
            if not self._qualifications.customer_found:
                _refuse_with(checks.customer_not_found())
            customer_id = customer.customer_id
        elif customer.kind == "existing_tenant":
            customer_id = await self._wait_for_relationship(customer.domain)
        else:
            customer_id = await self._create_customer(order, customer)
        self._tracker.customer_known(customer_id)
        return customer_id

    async def _create_customer(self, order: OrderDocument, customer: NewCustomer) -> str:
        available = await steps.ask(
            m.CHECK_DOMAIN, m.DomainCheck(domain=customer.domain), m.DomainAvailability
        )
        if not available.available:
            _refuse_with(checks.domain_taken(customer.domain))
        if self._config.billing_address_required:
            await self._check_billing_address(customer)
        tax_id = await self._collect_tax_id(customer)

        self._enter(Phase.CREATING_CUSTOMER)
        self._tax_id_allowed = False
        try:
            created = await self._commit(
                m.CREATE_CUSTOMER,
                m.CreateCustomer(
                    request_id=request_id(self._request_scope, ids.CREATE_CUSTOMER),
                    customer=customer,
                    tax_id=tax_id,
                    reseller_tenant_id=order.reseller.tenant_id if order.reseller else None,
                ),
                m.CustomerRef,
            )
        except steps.ACTIVITY_FAILURES as error:
            self._raise_partner_center_refusal(error)
        customer_id = str(created.customer_id)
        self._tracker.customer_created(customer_id)
        # Nobody but this order knows the customer yet; it takes the customer's slot before
        # it tells anyone (the status, the search attributes), so that any other order of the
        # customer comes after it.
        await self._take_customer_slot(order, customer_id, created=True)
        return customer_id

    async def _check_billing_address(self, customer: NewCustomer) -> None:
        self._enter(Phase.CHECKING_ADDRESS)
        _refuse_with(
            checks.billing_address_incomplete(
                customer, phone_is_missing=self._phone_missing(customer)
            )
        )
        verdict = await steps.ask(
            m.VALIDATE_ADDRESS, m.AddressCheck(address=customer.billing_address), m.AddressVerdict
        )
        if not verdict.verified:
            _refuse_with(checks.address_not_verified(verdict.status, verdict.suggestions))

    async def _collect_tax_id(self, customer: NewCustomer) -> str | None:
        """The tax ID for a new tenant: the order's, or one supplied later while the order waits
        (reminding, and expiring after the configured time), when Microsoft requires it."""
        decision = checks.tax_id_decision(
            customer,
            workflow.now().date(),
            self._config.tax_id_requirements,
            supplied=self._tax_id,
        )
        _refuse_with(decision.refusal)
        if decision.step is not checks.TaxIdStep.ASK:
            return decision.value
        problem = decision.problem

        waits = self._config.waits
        self._enter(Phase.WAITING_FOR_TAX_ID)
        self._notify()

        async def supplied() -> bool:
            return self._tax_id is not None

        await self._wait(
            WaitingFor.TAX_ID,
            supplied,
            expires_after=waits.tax_id_expires_after,
            pace=Pace(
                check_every=waits.tax_id_reminder_every,
                remind_every=waits.tax_id_reminder_every,
            ),
            wake=lambda: self._tax_id is not None,
            last_problem=problem,
            expired=checks.tax_id_not_provided(customer.country),
        )
        return self._tax_id

    def _phone_missing(self, customer: NewCustomer) -> bool:
        return phone_missing(
            customer.country,
            customer.phone,
            workflow.now().date(),
            self._config.tax_id_requirements,
        )

    async def _wait_for_relationship(self, domain: str) -> str:
        """An existing tenant becomes the partner's customer when its global admin accepts the
        reseller invitation; until then the order shows the link and waits."""
        found = await steps.ask(m.FIND_CUSTOMER, m.FindCustomer(domain=domain), m.CustomerLookup)
        if found.customer_id:
            return found.customer_id
        exists = await steps.ask(m.CHECK_DOMAIN, m.DomainCheck(domain=domain), m.DomainAvailability)
        if exists.available:
            _refuse_with(checks.no_tenant(domain))
        link = await steps.ask(m.GET_RELATIONSHIP_LINK, m.NoInput(), m.RelationshipLink)
        waits = self._config.waits
        self._enter(Phase.WAITING_FOR_RELATIONSHIP)
        self._notify()
        customer_id: str | None = None

        async def accepted() -> bool:
            nonlocal customer_id
            self._relationship_nudged = False
            found = await steps.ask(
                m.FIND_CUSTOMER, m.FindCustomer(domain=domain), m.CustomerLookup
            )
            customer_id = found.customer_id
            return customer_id is not None

        await self._wait(
            WaitingFor.RELATIONSHIP,
            accepted,
            expires_after=waits.relationship_expires_after,
            pace=Pace(
                check_every=waits.relationship_poll_every,
                remind_every=waits.relationship_reminder_every,
                wake_min_gap=waits.relationship_nudge_min_gap,
            ),
            wake=lambda: self._relationship_nudged,
            check_first=False,
            relationship_link=link.url,
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
        needed = qualifications_needed(order.lines)
        self._enter(Phase.CHECKING_ELIGIBILITY)
        if self._tracker.created_customer_id is not None:
            qualifications = m.Qualifications()  # a customer created a moment ago has none
        elif self._qualifications is not None:
            qualifications = self._qualifications  # read with the known customer
        else:
            qualifications = await self._read_qualifications(customer_id)
        # Only a new customer's order describes the school Microsoft is asked to vet.
        customer = order.customer
        school = customer.education if isinstance(customer, NewCustomer) else None
        if school is not None and education_vetting_to_request(
            needed,
            approved=qualifications.approved,
            in_review=qualifications.in_review,
            denied=qualifications.denied,
        ):
            qualifications = await self._request_education_vetting(order, customer_id, school)
        if vetting_under_way(needed, in_review=qualifications.in_review):
            await self._give_slot_back_for_the_wait()
            qualifications = await self._wait_for_vetting(customer_id, qualifications)
        self._approved_qualifications = frozenset(qualifications.approved)
        self._refuse_problems(
            eligibility_problems(
                order.lines,
                offers,
                approved=qualifications.approved,
                denied=qualifications.denied,
            )
        )

    async def _read_qualifications(self, customer_id: str) -> m.Qualifications:
        return await steps.ask(
            m.READ_QUALIFICATIONS, m.CustomerRef(customer_id=customer_id), m.Qualifications
        )

    async def _request_education_vetting(
        self, order: OrderDocument, customer_id: str, school: EducationDetails
    ) -> m.Qualifications:
        try:
            return await steps.ask(
                m.SUBMIT_EDUCATION_VETTING,
                m.RequestEducationVetting(
                    request_id=request_id(self._request_scope, ids.EDUCATION_VETTING),
                    customer_id=customer_id,
                    education=school,
                ),
                m.Qualifications,
            )
        except steps.ACTIVITY_FAILURES as error:
            if partner_center_refusal(error) is None:
                raise
            # Refused: perhaps because it was requested already (Microsoft documents no code
            # for that). Where the customer stands decides, not the code.
            standing = await self._read_qualifications(customer_id)
            if EDUCATION in (*standing.approved, *standing.in_review, *standing.denied):
                return standing
            self._raise_partner_center_refusal(error)

    async def _wait_for_vetting(
        self, customer_id: str, qualifications: m.Qualifications
    ) -> m.Qualifications:
        waits = self._config.waits
        if not waits.wait_for_education_vetting:
            _refuse_with(checks.vetting_not_waited_for())
        self._enter(Phase.WAITING_FOR_VETTING)
        self._notify()

        async def decided() -> bool:
            nonlocal qualifications
            qualifications = await self._read_qualifications(customer_id)
            return EDUCATION not in qualifications.in_review

        await self._wait(
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

    # ------------------------------------------------------------------ agreement

    async def _confirm_customer_agreement(
        self, order: OrderDocument, customer_id: str, template_id: str | None
    ) -> None:
        """Confirm the customer's acceptance once: unless it is on record already (a customer
        this order created has none yet)."""
        self._enter(Phase.CONFIRMING_AGREEMENT)
        if self._tracker.created_customer_id is None:
            existing = await steps.ask(
                m.LIST_CUSTOMER_AGREEMENTS,
                m.CustomerRef(customer_id=customer_id),
                m.AgreementsOnRecord,
            )
            if existing.on_record:
                return
        if template_id is None:
            template = await steps.ask(m.READ_AGREEMENT_TEMPLATE, m.NoInput(), m.AgreementTemplate)
            template_id = template.template_id
        try:
            await steps.ask(
                m.RECORD_CUSTOMER_AGREEMENT,
                m.RecordAgreement(
                    request_id=request_id(self._request_scope, ids.CUSTOMER_AGREEMENT),
                    customer_id=customer_id,
                    acceptance=order.customer_agreement,
                    template_id=template_id,
                ),
                m.AgreementConfirmed,
            )
        except steps.ACTIVITY_FAILURES as error:
            self._raise_partner_center_refusal(error)

    # ------------------------------------------------------------------ the customer's slot

    async def _take_customer_slot(
        self, order: OrderDocument, customer_id: str, *, created: bool = False
    ) -> None:
        """Serialize with the customer's other orders, where the plan depends on what the
        customer holds (else there is nothing to serialize). `created`: this order created
        the customer a moment ago; the slot tells whether anybody came before it."""
        if not depends_on_subscriptions(order.lines, self._config):
            return

        def queued() -> None:
            self._tracker.enter(Phase.WAITING_FOR_CUSTOMER_SLOT)
            self._tracker.waiting_for(WaitingFor.CUSTOMER_SLOT)
            self._tracker.publish_search_attributes()

        answer = await self._slot.take(
            customer_id,
            order.order_id,
            lease=self._config.waits.customer_slot_lease,
            created_customer=created,
            give_up=lambda: self._cancel_requested,
            when_queued=queued,
        )
        self._stop_if_cancelled()
        if self._tracker.waiting:
            self._tracker.done_waiting()
        self._undisturbed = answer is not None and answer.undisturbed
        self._holds_slot = answer is not None

    async def _give_slot_back_for_the_wait(self) -> None:
        """A wait of days (education vetting) holds no customer slot: other orders of the
        customer would queue behind it, and its lease would run out under it. The slot is
        taken again after the wait, and is then no longer undisturbed (others may have come
        meanwhile: the subscriptions are read)."""
        if not self._holds_slot:
            return
        await self._slot.release()
        self._holds_slot = False
        self._undisturbed = False
        self._slot_given_back = True

    # ------------------------------------------------------------------ plan and buy

    async def _plan(
        self, order: OrderDocument, customer_id: str, offers: dict[str, OfferFacts]
    ) -> Plan:
        self._enter(Phase.PLANNING)
        subscriptions: list[ExistingSubscription] = []
        if depends_on_subscriptions(order.lines, self._config) and not self._undisturbed:
            listed = await steps.ask(
                m.READ_SUBSCRIPTIONS, m.CustomerRef(customer_id=customer_id), m.SubscriptionList
            )
            subscriptions = listed.items
        if self._catalog_is_old():  # availability ids change over time; days may have passed
            offers = await self._catalog(order)
        plan = plan_order(order.lines, self._config, offers, subscriptions)
        self._refuse_problems(
            order_problems(
                order.lines,
                offers,
                plan,
                subscriptions,
                Standing(approved=self._approved_qualifications),
                self._config,
            )
        )
        self._tracker.planned(plan)
        return plan

    async def _purchase_and_follow(self, order: OrderDocument, plan: Plan) -> None:
        customer_id = str(self._tracker.customer_id)
        self._enter(Phase.PURCHASING)
        creates = [p for p in plan.lines if p.action is LineAction.CREATE]
        adds = [p for p in plan.lines if p.action is LineAction.ADD_LICENCES]
        purchased: m.PurchaseResult | None = None
        if creates:
            purchased = await self._buy_new_subscriptions(order, customer_id, creates)
        for planned in adds:
            await self._add_licences(order, customer_id, planned)

        self._enter(Phase.PROVISIONING)
        await self._follow_provisioning(
            customer_id, purchased.orders if purchased is not None else [], adds
        )
        if workflow.patched(REFUND_WINDOWS):
            await self._record_purchases(order, customer_id, creates + adds)

    async def _record_purchases(
        self, order: OrderDocument, customer_id: str, bought: list[PlannedLine]
    ) -> None:
        """What each fulfilled line bought and until when it can be undone (Partner Center's
        window: a created subscription's read with the customer's subscriptions, one request;
        added licences' came with the change), shown on the line and told to the customer's
        subscriptions workflow, which watches the windows (and undoes on request)."""
        lines = self._tracker.status.lines
        fulfilled = [p for p in bought if lines[p.line].state is LineState.FULFILLED]
        if not fulfilled:
            return
        windows = dict(self._windows)
        if any(p.action is LineAction.CREATE for p in fulfilled):
            listed = await steps.ask(
                m.READ_SUBSCRIPTIONS, m.CustomerRef(customer_id=customer_id), m.SubscriptionList
            )
            reported = {s.id: s.window for s in listed.items}
            for p in fulfilled:
                if p.action is LineAction.CREATE:
                    windows[p.line] = reported.get(str(lines[p.line].subscription_id))
        record = PurchasesRecord(
            purchase=workflow.info().workflow_id,
            order_id=order.order_id,
            storefront=self._webhooks.storefront,
            customer_id=customer_id,
            lines=[],
        )
        for p in fulfilled:
            action = (
                PurchaseAction.CREATED if p.action is LineAction.CREATE else PurchaseAction.ADDED
            )
            closes_at = window_closes_at(action, windows.get(p.line))
            self._tracker.refund_window_known(p.line, closes_at)
            record.lines.append(
                FulfilledLine(
                    line=p.line,
                    subscription_id=str(lines[p.line].subscription_id or p.subscription_id),
                    offer=p.offer,
                    action=action,
                    seats=p.quantity,
                    quantity_after=p.quantity_after,
                    window_closes_at=closes_at,
                )
            )
        await steps.read(m.RECORD_PURCHASES, record, m.NoInput)

    async def _follow_provisioning(
        self, customer_id: str, orders: list[m.PurchasedOrder], adds: list[PlannedLine]
    ) -> None:
        """Until Microsoft has provisioned what was ordered: each new subscription (by its
        Partner Center order), each added quantity not yet seen (on its subscription)."""
        if orders or any(self._tracker.line_ordered(p.line) for p in adds):
            self._tracker.waiting_for(WaitingFor.PROVISIONING)
        waits = self._config.waits
        for pc_order in orders:
            try:
                provisioned = await self._poll(
                    m.AWAIT_PROVISIONING,
                    m.ProvisioningCheck(customer_id=customer_id, order_id=pc_order.order_id),
                    m.ProvisionedOrder,
                    every=waits.provisioning_poll_every,
                    expires_after=waits.provisioning_expires_after,
                    ask_first=True,
                )
            except steps.ACTIVITY_FAILURES as error:
                cause = error.cause or error
                unread = isinstance(cause, ApplicationError) and cause.type == m.ANSWER_UNUSABLE
                said = "whether it was fulfilled could not be read" if unread else "not fulfilled"
                for n in pc_order.lines:
                    self._tracker.line_failed(
                        n, f"ordered at Microsoft (order {pc_order.order_id}), {said}: {cause}"
                    )
                continue
            for n, subscription_id in zip(
                pc_order.lines, provisioned.subscription_ids, strict=True
            ):
                if subscription_id:
                    self._tracker.fulfilled(n, subscription_id)
                else:  # the order ended as a partial success
                    self._tracker.line_failed(
                        n,
                        f"ordered at Microsoft (order {pc_order.order_id}), which reports "
                        f"the order as {provisioned.status}; this line was not fulfilled",
                    )
        for planned in adds:
            if not self._tracker.line_ordered(planned.line):
                continue  # fulfilled already, refused or failed: no new quantity to wait for
            try:
                shown = await self._poll(
                    m.AWAIT_QUANTITY,
                    m.SubscriptionQuery(
                        customer_id=customer_id,
                        subscription_id=str(planned.subscription_id),
                        quantity=planned.quantity_after,
                    ),
                    m.SubscriptionState,
                    every=waits.provisioning_poll_every,
                    expires_after=waits.provisioning_expires_after,
                    ask_first=True,
                )
            except steps.ACTIVITY_FAILURES as error:
                self._tracker.line_failed(
                    planned.line,
                    "the change was accepted; the new quantity did not show in time: "
                    f"{error.cause}",
                )
            else:
                self._windows[planned.line] = shown.window
                self._tracker.fulfilled(planned.line)
        if self._tracker.waiting:
            self._tracker.done_waiting()

    async def _buy_new_subscriptions(
        self, order: OrderDocument, customer_id: str, creates: list[PlannedLine]
    ) -> m.PurchaseResult | None:
        purchased: m.PurchaseResult | None = None
        for attempt in range(2):
            try:
                purchased = await self._purchase(order, customer_id, creates, attempt)
            except steps.ACTIVITY_FAILURES as error:
                refusal = partner_center_refusal(error)
                if attempt == 0 and _stale_catalog(refusal):
                    # Availability ids change over time: read them again and buy once more.
                    creates = with_fresh_catalog(creates, await self._catalog(order, fresh=True))
                    continue
                self._purchase_failed(creates, error, refusal)
                return None
            if attempt == 0 and not purchased.orders and _stale_cart(purchased):
                creates = with_fresh_catalog(creates, await self._catalog(order, fresh=True))
                continue
            break
        assert purchased is not None
        for pc_order in purchased.orders:
            self._tracker.ordered(pc_order.lines, pc_order.order_id)
        for group in purchased.refused:  # refused by Microsoft, or not ordered because of it
            refusal = from_partner_center(group.refusal.code, group.refusal.description)
            if group.not_ordered is not None:
                refusal = refusal.model_copy(update={"message": group.not_ordered})
            for n in group.lines:
                self._tracker.line_refused(n, refusal)
        return purchased

    async def _purchase(
        self, order: OrderDocument, customer_id: str, creates: list[PlannedLine], attempt: int
    ) -> m.PurchaseResult:
        """One cart with every new subscription, then its checkout (unless Microsoft named
        lines of the cart it will not sell: then nothing is bought)."""
        purchase = m.Purchase(
            request_id=request_id(self._request_scope, ids.purchase(attempt)),
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
        )
        cart = await steps.ask(m.CREATE_CART, purchase, m.CartAnswer)
        if cart.refused:
            return m.PurchaseResult(orders=[], refused=cart.refused)
        return await self._commit(
            m.CHECKOUT_CART,
            m.Checkout(
                request_id=purchase.request_id,
                customer_id=customer_id,
                cart=cart,
                lines=purchase.lines,
            ),
            m.PurchaseResult,
        )

    def _purchase_failed(
        self,
        creates: list[PlannedLine],
        error: ActivityError | ApplicationError,
        refusal: Refusal | None,
    ) -> None:
        for p in creates:
            if refusal is not None:
                self._tracker.line_refused(
                    p.line,
                    refusal.model_copy(
                        update={
                            "message": "Microsoft refused the checkout of the new "
                            f"subscriptions: {refusal.message}"
                        }
                    ),
                )
            else:  # not a refusal: whether Microsoft took the order is not known
                self._tracker.line_failed(
                    p.line,
                    f"the purchase did not complete ({error.cause}); it may have been "
                    "ordered at Microsoft: check the customer's subscriptions before ordering "
                    "it again",
                )

    async def _add_licences(
        self, order: OrderDocument, customer_id: str, planned: PlannedLine
    ) -> None:
        """Set the subscription's new total (read whole first: Partner Center takes it back
        whole); a change Partner Center shows at once needs no waiting."""
        try:
            current = await steps.ask(
                m.READ_SUBSCRIPTION_FOR_CHANGE,
                m.SubscriptionQuery(
                    customer_id=customer_id, subscription_id=str(planned.subscription_id)
                ),
                m.SubscriptionForChange,
            )
            changed = await self._commit(
                m.SET_QUANTITY,
                m.SetQuantity(
                    request_id=request_id(self._request_scope, ids.line_quantity(planned.line)),
                    customer_id=customer_id,
                    subscription=current.body,
                    quantity=planned.quantity_after,
                ),
                m.QuantitySet,
            )
        except steps.ACTIVITY_FAILURES as error:
            refusal = partner_center_refusal(error)
            if refusal is not None:
                self._tracker.line_refused(planned.line, refusal)
            else:
                self._tracker.line_failed(
                    planned.line,
                    f"the change did not complete ({error.cause}); the licences may have been "
                    "added at Microsoft: check the subscription before ordering them again",
                )
            return
        self._tracker.ordered([planned.line])
        state = changed.state
        shown = state is not None and state.quantity == planned.quantity_after
        if shown and state is not None and state.status == "active":
            self._windows[planned.line] = state.window
            self._tracker.fulfilled(planned.line)

    # ------------------------------------------------------------------ mechanism

    async def _commit(self, name: str, arg: BaseModel, result_type: type[R]) -> R:
        """A write that cannot be undone (workflows/steps.py): its workflow task completes
        first, with the status's search attributes."""
        self._tracker.publish_search_attributes()
        return await steps.commit(name, arg, result_type)

    async def _poll(
        self,
        name: str,
        arg: BaseModel,
        result_type: type[R],
        *,
        every: timedelta,
        expires_after: timedelta,
        ask_first: bool = False,
    ) -> R:
        """Ask until the answer is there (workflows/steps.py); the workflow task may complete
        meanwhile, with the status's search attributes."""
        self._tracker.publish_search_attributes()
        return await steps.poll(
            name, arg, result_type, every=every, expires_after=expires_after, ask_first=ask_first
        )

    def _enter(self, phase: Phase) -> None:
        """A step begins, unless the order was cancelled before it."""
        self._stop_if_cancelled()
        self._tracker.enter(phase)

    def _cancelling(self) -> bool:
        """A cancellation was asked for, and the purchase has not started."""
        return self._cancel_requested and self._tracker.cancellable

    def _stop_if_cancelled(self) -> None:
        if self._cancelling():
            raise OrderCancelled()

    async def _wait(
        self,
        what: WaitingFor,
        done: Callable[[], Awaitable[bool]],
        *,
        expires_after: timedelta,
        pace: Pace,
        expired: Refusal,
        wake: Callable[[], bool] = never,
        check_first: bool = True,
        relationship_link: str | None = None,
        last_problem: str | None = None,
    ) -> None:
        """Wait durably until `done()` (workflows/waiting.py), the status saying what for; the
        order is refused with `expired` when the wait expires, and stops if cancelled."""
        since = workflow.now()
        deadline = since + expires_after
        self._tracker.publish_search_attributes()
        self._tracker.waiting_for(
            what,
            expires_at=deadline,
            relationship_link=relationship_link,
            last_problem=last_problem,
        )
        ended = await wait_until(
            done,
            since=since,
            deadline=deadline,
            pace=pace,
            wake=wake,
            cancelled=self._cancelling,
            remind=self._tracker.reminded,
            check_first=check_first,
        )
        if ended is WaitEnded.CANCELLED:
            raise OrderCancelled()
        if ended is WaitEnded.EXPIRED:
            raise OrderRefused(expired)
        self._tracker.done_waiting()

    def _raise_partner_center_refusal(self, error: ActivityError | ApplicationError) -> NoReturn:
        refusal = partner_center_refusal(error)
        if refusal is None:
            raise error
        raise OrderRefused(refusal)

    async def _finish(self, phase: Phase, refusal: Refusal | None) -> OrderOutcome:
        self._tracker.finished(phase, refusal)
        await self._notify_and_hand_over()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._tracker.outcome()

    def _notify(self) -> None:
        """Tell the storefront that placed the order (if one did) where the order stands, by
        its webhooks (workflows/webhooks.py), without waiting for the event to leave."""
        status = self._tracker.status
        if not self._webhooks.enabled or status.phase not in ORDER_EVENTS:
            return
        if not status.order_id:  # (an order that could not be read)
            own_id = order_id_of(workflow.info().workflow_id) or ""
            status = status.model_copy(update={"order_id": own_id})
        event = order_event(
            status, self._webhooks.stamp(), personal=personal_values(self._order, self._tax_id)
        )
        if event is not None:
            self._webhooks.emit(event)

    async def _notify_engine_failure(self) -> None:
        """The run fails with an engine error before it finished: `order.failed`, with what the
        storefront should check (nothing is recorded for an order no storefront placed)."""
        if not self._webhooks.enabled or self._tracker.ended:
            return
        status = self._tracker.status
        failed = status.model_copy(
            update={
                "phase": Phase.FAILED,
                "order_id": status.order_id or order_id_of(workflow.info().workflow_id) or "",
                "refusal": ENGINE_FAILURE,
            }
        )
        event = order_event(
            failed, self._webhooks.stamp(), personal=personal_values(self._order, self._tax_id)
        )
        if event is not None:
            self._webhooks.emit(event)
        await self._webhooks.handed_over()

    async def _notify_and_hand_over(self) -> None:
        """The order's last event, and every event before it, handed over before it ends."""
        if self._webhooks.enabled:
            self._notify()
            await self._webhooks.handed_over()

    # ------------------------------------------------------------------ handlers

    @workflow.query(name=STATUS)
    def status(self) -> OrderStatus:
        return self._tracker.status

    @workflow.signal(name=PROVIDE_TAX_ID)
    def provide_tax_id_signal(self, submission: TaxIdSubmission = MISSING_TAX_ID) -> None:
        """Plain signal (e.g. from the `temporal` CLI): an invalid tax ID is noted on the
        status and the order keeps waiting. One sent unencrypted is taken, and noted; one sent
        without any input is dropped."""
        if submission.arrival is Arrival.UNREADABLE:
            workflow.logger.warning("a tax ID signal without input was dropped")
            return
        if submission.arrival is Arrival.PLAIN:
            self._tracker.note_unencrypted("tax_id")
        problem = self._tax_id_problem(submission.tax_id)
        if problem is not None:
            self._tracker.input_refused(problem)
            workflow.logger.info("tax ID not accepted")
            return
        self._accept_tax_id(submission.tax_id)

    @workflow.update(name=PROVIDE_TAX_ID)
    def provide_tax_id(self, submission: TaxIdSubmission) -> TaxIdAccepted:
        if submission.arrival is Arrival.PLAIN:
            self._tracker.note_unencrypted("tax_id")
        self._accept_tax_id(submission.tax_id)
        return TaxIdAccepted()

    @provide_tax_id.validator
    def _validate_tax_id(self, submission: TaxIdSubmission) -> None:
        if self._tracker.ended:  # (its status says so; its run closes a moment later)
            raise ApplicationError(
                "The order has ended; it no longer takes a tax ID.", type=ORDER_ENDED_REJECTION
            )
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
        self._tracker.input_accepted()

    @workflow.signal(name=RELATIONSHIP_ACCEPTED)
    def relationship_accepted(self, _: RelationshipNudge = NO_NUDGE) -> None:
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
        if self._tracker.ended:  # (its status says so; its run closes a moment later)
            raise ApplicationError(
                "The order has ended; it can no longer be cancelled.", type=ORDER_ENDED_REJECTION
            )
        if not self._tracker.cancellable:
            raise ValueError(
                "The order can no longer be cancelled: the purchase has started "
                "or the order has ended."
            )


def _refuse_with(refusal: Refusal | None) -> None:
    """Refuse the order with `refusal`, if there is one (an `ordering.checks` decision)."""
    if refusal is not None:
        raise OrderRefused(refusal)


def _stale_catalog(refusal: Refusal | None) -> bool:
    """Partner Center refused a catalog item as stale (a new availability id was published)."""
    return refusal is not None and refusal.partner_center_code in m.STALE_CATALOG_CODES


def _stale_cart(purchased: m.PurchaseResult) -> bool:
    """A cart not checked out because Microsoft named a line's catalog item stale."""
    return any(group.refusal.code in m.STALE_CATALOG_CODES for group in purchased.refused)


async def carried_through(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` to its end even if the workflow is cancelled meanwhile (a cancellation is
    logged and ignored: once the purchase has started, the order is carried through)."""
    running = asyncio.ensure_future(work)
    while True:
        try:
            await asyncio.shield(running)
            return
        except asyncio.CancelledError:
            if running.done():
                return
            workflow.logger.info("cancellation ignored: the purchase has started")
