"""ValidateOrderWorkflow: the full-order dry run (issue 14).

Runs every check the order would run (workflows/order.py), against Partner Center's current
state, and plans every line, without writing anything: it asks Partner Center only what the
order reads (the reseller's agreement, the domain, the billing address's validation, which
writes nothing, the customer, its qualifications, agreements and subscriptions, the catalog),
never what it writes (no customer, cart, checkout, quantity, agreement or vetting request). It
takes no customer slot and waits for nothing: where the order would wait (for the tax ID, the
relationship, education vetting), the report says so.

The verdicts are the order's own decisions (`ordering.checks`, `ordering.eligibility`,
`ordering.feasibility`, `ordering.planning`), put into the report by `ordering.dry_run`.
Unlike the order, it does not stop at the first refusal: it reports every problem it can know,
and notes where the order would stop (its first refusal, in the order's own sequence: the
reseller, the lines the catalog, or for a new customer everything knowable, rules out, the
customer, segment eligibility, the customer agreement, the plan), whose code the report's
refusal carries.
"""

from __future__ import annotations

from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities import messages as m
    from clients.contract import MISSING_SUBMISSION, Arrival, Submission
    from ordering import checks
    from ordering.config import EngineConfig
    from ordering.document import BillingAddress, NewCustomer, OrderDocument
    from ordering.dry_run import (
        Check,
        CheckName,
        LinePlan,
        OrderValidation,
        failed,
        judged,
        line_plans,
        not_applicable,
        passed,
        validation,
        will_wait,
        without_repeats,
    )
    from ordering.eligibility import (
        EDUCATION,
        eligibility_problems,
        new_customer_standing,
        qualifications_needed,
        vetting_under_way,
    )
    from ordering.feasibility import Standing, catalog_problems, order_problems, segment_problems
    from ordering.planning import (
        ExistingSubscription,
        OfferFacts,
        Plan,
        depends_on_subscriptions,
        plan_order,
    )
    from ordering.refusals import Problem, Refusal, RefusalCode, invalid_input, refusal_for
    from ordering.tax_id import phone_missing
    from ordering.validation import InvalidOrder, parse_order
    from workflows import steps
    from workflows.catalog import catalog_query, read_catalog
    from workflows.refusals import failure, partner_center_refusal, unreadable_input

R = TypeVar("R")

NOT_ENCRYPTED = Refusal(
    code=RefusalCode.ORDER_NOT_ENCRYPTED,
    message="The order arrived unencrypted, so the engine did not check it. Send it through "
    "the storefront SDK or the HTTP API: they encrypt the customer's personal data.",
)
ONLY_NEW = "Only for a new customer."


# Versioned deploys: pinned to its build, as its task queue's worker is (docs/VERSIONING.md).
@workflow.defn
class ValidateOrderWorkflow:
    def __init__(self) -> None:
        self._order: OrderDocument | None = None
        self._config = EngineConfig()
        self._offers: dict[str, OfferFacts] = {}
        self._checks: list[Check] = []
        self._suggested: list[BillingAddress] = []
        self._stop: Refusal | None = None  # the first refusal the order would meet

    @workflow.run
    async def run(self, submission: Submission = MISSING_SUBMISSION) -> OrderValidation:
        try:
            if submission.arrival is Arrival.UNREADABLE:
                raise InvalidOrder([unreadable_input("order")])
            order = parse_order(submission.root)
        except InvalidOrder as invalid:
            raise failure(
                invalid_input(RefusalCode.INVALID_ORDER, "order", invalid.problems)
            ) from None
        self._order = order
        prepared = await steps.read(m.PREPARE_ORDER, catalog_query(order), m.PreparedOrder)
        self._config = prepared.config
        if submission.arrival is Arrival.PLAIN and not self._config.accepts_unencrypted_orders:
            raise failure(NOT_ENCRYPTED)

        await self._check_reseller(order)
        catalog = await self._ask_catalog(order, prepared.catalog)
        if isinstance(catalog, Refusal):
            return await self._catalog_refused(order, catalog)
        self._offers = catalog
        customer = order.customer
        self._stops_at(self._lines_judged_before_the_customer(order))
        if isinstance(customer, NewCustomer):
            report = await self._new_customer(order, customer)
        elif customer.kind == "existing_tenant":
            report = await self._existing_tenant(order, customer.domain)
        else:
            report = await self._known_customer(order, customer.customer_id)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return report

    # ------------------------------------------------------------------ the checks

    async def _ask_catalog(
        self, order: OrderDocument, remembered: m.CachedCatalog | None
    ) -> dict[str, OfferFacts] | Refusal:
        """The lines' catalog facts, or Microsoft's refusal to give them."""
        try:
            return await read_catalog(order, remembered)
        except steps.ACTIVITY_FAILURES as error:
            refusal = partner_center_refusal(error)
            if refusal is None:
                raise
            return refusal

    async def _catalog_refused(self, order: OrderDocument, refusal: Refusal) -> OrderValidation:
        """Microsoft refused to describe the lines' offers: the order stops there, before the
        customer; nothing else is judged."""
        checked = {c.check for c in self._checks}
        why = "Not checked: Microsoft refused to describe the order's offers."
        for name in CheckName:
            if name is CheckName.PLAN:
                self._fails(name, refusal)
            elif name not in checked:
                self._checks.append(not_applicable(name, why))
        lines = line_plans(order.lines, {}, None, [], not_planned="not planned: " + refusal.message)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._report(order, lines)

    async def _check_reseller(self, order: OrderDocument) -> None:
        name = CheckName.RESELLER_AGREEMENT
        if order.reseller is None:
            self._checks.append(not_applicable(name, "A direct order: there is no reseller."))
            return
        mpn_id = order.reseller.mpn_id
        status = await self._ask(
            m.CHECK_RESELLER, m.ResellerCheck(mpn_id=mpn_id), m.ResellerAgreement
        )
        if isinstance(status, Refusal):
            self._fails(name, status)
            return
        refusal = checks.reseller_refusal(
            mpn_id, known=status.known, signed=status.signed, ineligible=status.ineligible
        )
        if refusal is not None:
            self._fails(name, refusal)
        else:
            self._checks.append(
                passed(name, f"The reseller {mpn_id} has accepted the Microsoft Partner Agreement.")
            )

    def _lines_judged_before_the_customer(self, order: OrderDocument) -> list[Problem]:
        """What the order judges of its lines before it turns to the customer: for a new
        customer, everything knowable (it takes the domain for good: workflows/order.py), else
        what the catalog alone rules out."""
        customer = order.customer
        if not isinstance(customer, NewCustomer):
            return catalog_problems(order.lines, self._offers)
        plan = plan_order(order.lines, self._config, self._offers, [])
        return order_problems(
            order.lines, self._offers, plan, [], self._new_standing(customer), self._config
        )

    def _new_standing(self, customer: NewCustomer) -> Standing:
        return new_customer_standing(
            school=customer.education is not None,
            waits_for_vetting=self._config.waits.wait_for_education_vetting,
        )

    async def _new_customer(self, order: OrderDocument, customer: NewCustomer) -> OrderValidation:
        """What the order checks before it creates the customer, and the plan against an
        empty customer (it holds nothing, and has no qualification yet)."""
        self._checks.append(
            not_applicable(
                CheckName.CUSTOMER, "A new customer: the order creates it once every check passed."
            )
        )
        await self._check_domain(customer.domain)
        await self._check_billing_address(customer)
        self._check_tax_id(customer)
        standing = self._new_standing(customer)
        catalog = catalog_problems(order.lines, self._offers)
        refused = {n for p in catalog for n in p.lines}
        eligibility = segment_problems(
            order.lines,
            self._offers,
            standing,
            only=[n for n in range(len(order.lines)) if n not in refused],
        )
        self._check_eligibility(order, eligibility, vetted=EDUCATION in standing.to_be_vetted)
        self._checks.append(
            passed(
                CheckName.CUSTOMER_AGREEMENT,
                "The order records the customer's acceptance of the Microsoft Customer "
                "Agreement once the customer exists.",
            )
        )
        return self._planned(order, [], standing, eligibility)

    async def _check_domain(self, domain: str) -> None:
        name = CheckName.DOMAIN
        available = await self._ask(
            m.CHECK_DOMAIN, m.DomainCheck(domain=domain), m.DomainAvailability
        )
        if isinstance(available, Refusal):
            self._fails(name, available)
        elif available.available:
            self._checks.append(passed(name, f"The domain {domain} is free."))
        else:
            self._fails(name, checks.domain_taken(domain))

    async def _check_billing_address(self, customer: NewCustomer) -> None:
        name = CheckName.BILLING_ADDRESS
        if not self._config.billing_address_required:
            self._checks.append(
                not_applicable(
                    name,
                    "The engine does not check billing addresses (billingAddressRequired is "
                    "off): Partner Center checks it when the customer is created.",
                )
            )
            return
        incomplete = checks.billing_address_incomplete(
            customer,
            phone_is_missing=phone_missing(
                customer.country,
                customer.phone,
                workflow.now().date(),
                self._config.tax_id_requirements,
            ),
        )
        if incomplete is not None:
            self._fails(name, incomplete)
            return
        verdict = await self._ask(
            m.VALIDATE_ADDRESS, m.AddressCheck(address=customer.billing_address), m.AddressVerdict
        )
        if isinstance(verdict, Refusal):
            self._fails(name, verdict)
        elif verdict.verified:
            self._checks.append(passed(name, "Microsoft verified the billing address."))
        else:
            self._suggested = list(verdict.suggestions)
            self._fails(name, checks.address_not_verified(verdict.status, verdict.suggestions))

    def _check_tax_id(self, customer: NewCustomer) -> None:
        name = CheckName.TAX_ID
        decision = checks.tax_id_decision(
            customer, workflow.now().date(), self._config.tax_id_requirements
        )
        if decision.refusal is not None:
            self._fails(name, decision.refusal)
        elif decision.step is checks.TaxIdStep.USE:
            self._checks.append(passed(name, "The tax ID is valid."))
        elif decision.step is checks.TaxIdStep.NOT_NEEDED:
            self._checks.append(
                not_applicable(
                    name, f"Microsoft requires no tax ID for customers in {customer.country}."
                )
            )
        else:
            problem = decision.problem
            why = f" The order's tax ID is not valid: {problem}" if problem else ""
            self._checks.append(
                will_wait(
                    name,
                    f"Microsoft requires a tax ID for customers in {customer.country}: the "
                    f"order will ask for it and wait.{why}",
                )
            )

    async def _existing_tenant(self, order: OrderDocument, domain: str) -> OrderValidation:
        """Its own tenant: the partner's customer already (then judged as a known one), or not
        yet (the order waits for the relationship), or no such tenant (refused)."""
        name = CheckName.CUSTOMER
        found = await self._ask(m.FIND_CUSTOMER, m.FindCustomer(domain=domain), m.CustomerLookup)
        if isinstance(found, Refusal):
            return self._customer_unknown(order, found)
        if found.customer_id:
            return await self._known_customer(
                order,
                found.customer_id,
                found=f"The tenant {domain} is the partner's customer already.",
            )
        exists = await self._ask(m.CHECK_DOMAIN, m.DomainCheck(domain=domain), m.DomainAvailability)
        if isinstance(exists, Refusal):
            return self._customer_unknown(order, exists)
        if exists.available:
            return self._customer_unknown(order, checks.no_tenant(domain))
        self._checks.append(
            will_wait(
                name,
                f"The tenant {domain} is not yet the partner's customer: the order shows the "
                "reseller invitation link and waits for its administrator to accept it.",
            )
        )
        self._not_for_existing()
        # Its qualifications and subscriptions are the partner's to read only once it accepts:
        # the plan is against what it holds from this partner (nothing yet).
        needed = qualifications_needed(order.lines)
        if needed:
            self._checks.append(
                will_wait(
                    CheckName.SEGMENT_ELIGIBILITY,
                    "The customer's qualifications are judged once it has accepted the "
                    "relationship.",
                )
            )
        else:
            self._check_eligibility(order, [], vetted=False)
        self._checks.append(
            passed(
                CheckName.CUSTOMER_AGREEMENT,
                "The order records the customer's acceptance of the Microsoft Customer "
                "Agreement unless it is on record.",
            )
        )
        return self._planned(order, [], Standing(to_be_vetted=needed), [])

    async def _known_customer(
        self, order: OrderDocument, customer_id: str, *, found: str | None = None
    ) -> OrderValidation:
        name = CheckName.CUSTOMER
        qualifications = await self._ask(
            m.READ_QUALIFICATIONS, m.CustomerRef(customer_id=customer_id), m.Qualifications
        )
        if isinstance(qualifications, Refusal):
            return self._customer_unknown(order, qualifications)
        if not qualifications.customer_found:
            return self._customer_unknown(order, checks.customer_not_found())
        self._checks.append(passed(name, found or "Partner Center knows the customer."))
        self._not_for_existing()

        needed = qualifications_needed(order.lines)
        approved = set(qualifications.approved)
        vetting = vetting_under_way(needed, in_review=qualifications.in_review)
        waits = self._config.waits.wait_for_education_vetting
        if vetting and waits:
            approved.add(EDUCATION)  # judged on Microsoft's verdict, once the wait is over
        _, eligibility = without_repeats(
            [],
            eligibility_problems(
                order.lines, self._offers, approved=approved, denied=qualifications.denied
            ),
            catalog_problems(order.lines, self._offers),
        )
        if vetting and not waits:
            refusal = checks.vetting_not_waited_for()
            self._stops_at(refusal)
            self._checks.append(
                failed(CheckName.SEGMENT_ELIGIBILITY, refusal).model_copy(
                    update={
                        "problems": [
                            Problem(code=refusal.code, message=refusal.message),
                            *eligibility,
                        ]
                    }
                )
            )
        else:
            self._check_eligibility(order, eligibility, vetted=vetting)

        agreements = await self._ask(
            m.LIST_CUSTOMER_AGREEMENTS, m.CustomerRef(customer_id=customer_id), m.AgreementsOnRecord
        )
        if isinstance(agreements, Refusal):
            self._fails(CheckName.CUSTOMER_AGREEMENT, agreements)
        elif agreements.on_record:
            self._checks.append(
                passed(
                    CheckName.CUSTOMER_AGREEMENT,
                    "The customer's acceptance of the Microsoft Customer Agreement is on record.",
                )
            )
        else:
            self._checks.append(
                passed(
                    CheckName.CUSTOMER_AGREEMENT,
                    "The customer's acceptance of the Microsoft Customer Agreement is not on "
                    "record: the engine records the order's before buying.",
                )
            )

        subscriptions: list[ExistingSubscription] = []
        if depends_on_subscriptions(order.lines, self._config):
            listed = await self._ask(
                m.READ_SUBSCRIPTIONS, m.CustomerRef(customer_id=customer_id), m.SubscriptionList
            )
            if isinstance(listed, Refusal):
                self._fails(CheckName.PLAN, listed)
                return self._report(order, line_plans(order.lines, self._offers, None, []))
            subscriptions = listed.items
        return self._planned(
            order, subscriptions, Standing(approved=frozenset(approved)), eligibility
        )

    def _not_for_existing(self) -> None:
        for name in (CheckName.DOMAIN, CheckName.BILLING_ADDRESS, CheckName.TAX_ID):
            self._checks.append(not_applicable(name, ONLY_NEW))

    def _customer_unknown(self, order: OrderDocument, refusal: Refusal) -> OrderValidation:
        """The customer cannot be found (`refusal`): nothing to judge the lines against but the
        catalog."""
        self._fails(CheckName.CUSTOMER, refusal)
        self._not_for_existing()
        why = "The customer was not found."
        for name in (CheckName.SEGMENT_ELIGIBILITY, CheckName.CUSTOMER_AGREEMENT):
            self._checks.append(not_applicable(name, why))
        catalog = catalog_problems(order.lines, self._offers)
        self._judges(CheckName.PLAN, catalog, otherwise=not_applicable(CheckName.PLAN, why))
        lines = line_plans(
            order.lines,
            self._offers,
            None,
            catalog,
            not_planned="not planned: the customer was not found",
        )
        return self._report(order, lines)

    def _check_eligibility(
        self, order: OrderDocument, problems: list[Problem], *, vetted: bool
    ) -> None:
        name = CheckName.SEGMENT_ELIGIBILITY
        if vetted:
            otherwise = will_wait(
                name,
                "Microsoft vets the customer for education plans: the order waits for its "
                "verdict (it is asked for once a new customer exists).",
            )
        elif qualifications_needed(order.lines):
            otherwise = passed(name, "The customer is qualified for every line's segment.")
        else:
            otherwise = passed(name, "Every line is commercial.")
        self._judges(name, problems, otherwise=otherwise)

    def _planned(
        self,
        order: OrderDocument,
        subscriptions: list[ExistingSubscription],
        standing: Standing,
        eligibility: list[Problem],
    ) -> OrderValidation:
        """The plan, judged as the order judges it right before purchase."""
        plan: Plan = plan_order(order.lines, self._config, self._offers, subscriptions)
        problems = order_problems(
            order.lines, self._offers, plan, subscriptions, standing, self._config
        )
        problems, eligibility = without_repeats(
            problems, eligibility, catalog_problems(order.lines, self._offers)
        )
        count = len(plan.lines)
        self._judges(
            CheckName.PLAN,
            problems,
            otherwise=passed(
                CheckName.PLAN, f"Microsoft is not expected to refuse any line ({count} planned)."
            ),
        )
        lines = line_plans(order.lines, self._offers, plan, [*problems, *eligibility])
        return self._report(order, lines)

    def _report(self, order: OrderDocument, lines: list[LinePlan]) -> OrderValidation:
        return validation(order.order_id, self._checks, lines, self._suggested, stop=self._stop)

    # ------------------------------------------------------------------ mechanism

    def _fails(self, name: CheckName, refusal: Refusal) -> None:
        """The check `name` refuses the order with `refusal` (called in the order's sequence)."""
        self._stops_at(refusal)
        self._checks.append(failed(name, refusal))

    def _judges(self, name: CheckName, problems: list[Problem], *, otherwise: Check) -> None:
        """A check of the lines: failed with `problems`, else `otherwise`."""
        self._stops_at(problems)
        self._checks.append(judged(name, problems, otherwise=otherwise))

    def _stops_at(self, refusal: Refusal | list[Problem]) -> None:
        """The order would stop here unless it stopped before (the checks run in its order)."""
        if isinstance(refusal, list):
            if not refusal:
                return
            refusal = refusal_for(refusal)
        if self._stop is None:
            self._stop = refusal

    async def _ask(self, name: str, arg: BaseModel, result_type: type[R]) -> R | Refusal:
        """A Partner Center read; its business refusal is a finding, not a failure."""
        try:
            return await steps.ask(name, arg, result_type)
        except steps.ACTIVITY_FAILURES as error:
            refusal = partner_center_refusal(error)
            if refusal is None:
                raise
            return refusal
