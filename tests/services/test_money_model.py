"""A stateful model of the books (MONEY-SAFETY, Methods 2): Hypothesis drives random sequences of
jobs, deposits (right, replayed, short, over, unknown), assignments, completions, deliveries,
disputes, resolutions (random valid splits, and splits that do not add up), auto-releases (the
deadline moved into the past, then the sweep), cancellations, outbound work with ledger and
provider faults, admin retries of failed payouts, and late provider news; after every step the
database must agree with a simple model, and P1, P2, P8, P12, P13 and P15 must hold.

Outbound work queued on commit never runs in these (never-committing) tests, as if every message
were lost: only the sweeps carry it out, which is the harshest case for P6. Payouts go by M-Pesa
B2C through the sandbox's Daraja; its callbacks arrive when a step says so, or never until the
end, and its faults (refusals, lost answers, failures reported later, held or repeated callbacks)
are switched on at random."""

import itertools
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from escrow import workflows
from escrow.ledger import get_ledger
from escrow.models import Dispute, EscrowContract, LedgerOperation
from escrow.tasks import auto_release_sweep, ledger_sweep
from jobs import services as jobs
from jobs.models import JobApplication, JobListing
from kazi.errors import Conflict, DomainError
from kazi.money import to_chain
from kazi.tasks import announcement_sweep
from mpesa import deposits
from mpesa.models import MpesaDeposit, ProviderCallback
from payouts import services as payouts
from payouts.models import MobileMoneyPayout
from payouts.providers import PayoutResult, get_payout_provider
from payouts.tasks import payout_sweep
from sandbox import Sandbox
from tests.conftest import after_commit, assert_books_balance
from tests.factories import ArbiterFactory, EmployeeFactory, EmployerFactory

LEGAL_PAIRS = {
    ("open", "pending_deposit"),
    ("open", "funded"),
    ("assigned", "pending_deposit"),
    ("in_progress", "in_progress"),
    ("completed", "completed"),
    ("completed", "released"),
    ("cancelled", "refunded"),
    ("delivered", "in_progress"),
    ("disputed", "disputed"),
    ("resolved", "resolved"),
}
# The escrow state in which each kind of payout can exist (a surplus comes with its deposit).
PAID_OUT_FROM = {"release": {"released"}, "refund": {"refunded"}, "dispute_share": {"resolved"}}
DISPUTABLE = {"in_progress", "delivered"}  # a job assigned but not started holds too little
LIVE = {  # a job under way, and the steps that move it on
    "in_progress": ["deliver", "dispute", "complete"],
    "delivered": ["dispute", "complete", "auto_release"],
    "disputed": ["resolve"],
}
MIN_SHARE = Decimal("10")  # mobile money's smallest transfer: a share is 0 or at least this
ZERO = Decimal("0.00")
amounts = st.integers(min_value=1000, max_value=500_000).map(lambda c: Decimal(c) / 100)
# Budgets are whole shillings now (mobile money moves no cents); jobs from before may have cents.
budgets = st.integers(min_value=10, max_value=5000).map(lambda s: Decimal(s).quantize(ZERO))


def on_chain_escrows():
    created = LedgerOperation.objects.filter(kind="create", status="succeeded")
    return EscrowContract.objects.filter(operations__in=created)


class Books(RuleBasedStateMachine):
    jobs = Bundle("jobs")
    payments = Bundle("payments")

    def __init__(self, configure) -> None:
        super().__init__()
        self.sandbox: Sandbox = configure()  # a fresh ledger and M-Pesa for this example
        MobileMoneyPayout.objects.update(retry_of=None)  # retries protect what they retried
        for model in (
            MobileMoneyPayout,
            Dispute,
            MpesaDeposit,
            ProviderCallback,
            LedgerOperation,
            EscrowContract,
            JobApplication,
            JobListing,
        ):
            model.objects.all().delete()
        self.employer = EmployerFactory()
        self.arbiter = ArbiterFactory()
        self.ids = itertools.count()
        self.expected: dict[int, dict] = {}  # job id -> funded, surplus, split
        self.unmatched = ZERO
        self.paid: set[str] = set()

    def new_trans_id(self) -> str:
        return f"TX{next(self.ids):08d}"

    def pay(self, reference: str, amount: Decimal, trans_id: str):
        payment = deposits.ReceivedPayment(trans_id, amount, reference, "2547 ***** 678", "", "")
        deposit = deposits.deposit_record(payment=payment, callback=None)
        after_commit()  # the work starting, a surplus paid back: what a worker does next
        return deposit

    @rule(target=jobs, budget=amounts)
    def post_job(self, budget):
        job = workflows.job_create(
            employer=self.employer, title="T", description="D", budget=budget
        )
        self.expected[job.pk] = {"funded": ZERO, "surplus": ZERO, "budget": budget}
        return job.pk

    @rule(
        target=payments, job_id=jobs, how=st.sampled_from(["exact", "short", "over"]), extra=amounts
    )
    def deposit(self, job_id, how, extra):
        escrow = EscrowContract.objects.get(job_listing_id=job_id)
        expected = self.expected[job_id]
        remaining = escrow.remaining_amount
        amount = {"exact": remaining, "short": remaining / 2, "over": remaining + extra}[how]
        amount = max(amount.quantize(Decimal("0.01")), Decimal("1.00"))
        trans_id = self.new_trans_id()
        self.pay(escrow.contract_id.lower(), amount, trans_id)
        credited = min(amount, remaining)
        expected["funded"] += credited
        expected["surplus"] += amount - credited
        return (trans_id, escrow.contract_id, amount)

    @rule(payment=payments)
    def replay(self, payment):
        trans_id, reference, amount = payment
        first = MpesaDeposit.objects.get(transaction_reference=trans_id)
        assert self.pay(reference, amount, trans_id) == first

    @rule(amount=amounts)
    def deposit_to_an_unknown_reference(self, amount):
        self.pay("ESCROW_0000000Z", amount, self.new_trans_id())
        self.unmatched += amount

    @rule(job_id=jobs)
    def assign(self, job_id):
        job = JobListing.objects.get(pk=job_id)
        worker = EmployeeFactory()
        if job.status == "open":
            jobs.job_apply(job_id=job_id, employee=worker)
            workflows.job_assign(job_id=job_id, employee_id=worker.pk)
        else:
            with pytest.raises(Conflict):
                jobs.job_apply(job_id=job_id, employee=worker)

    @rule(target=jobs, budget=budgets)
    def post_pay_and_start_a_job(self, budget):
        """The usual way in: posted, paid in full, a worker assigned (work in progress)."""
        job_id = self.post_job(budget)
        self.deposit(job_id, "exact", ZERO)
        self.assign(job_id)
        return job_id

    @rule(job_id=jobs)
    def complete(self, job_id):
        job = JobListing.objects.get(pk=job_id)
        if job.status in {"in_progress", "delivered"}:
            workflows.job_complete(job_id=job_id)
        else:
            with pytest.raises(Conflict):
                workflows.job_complete(job_id=job_id)

    @rule(job_id=jobs)
    def cancel(self, job_id):
        job = JobListing.objects.get(pk=job_id)
        if job.status in {"open", "assigned"}:
            workflows.job_cancel(job_id=job_id)
        else:
            with pytest.raises(Conflict):
                workflows.job_cancel(job_id=job_id)

    @precondition(lambda self: self.jobs_in({"open"}, funded=True))
    @rule(data=st.data())
    def cancel_a_funded_job(self, data):
        """P12: everything deposited is owed back, in one refund."""
        job_id = data.draw(st.sampled_from(self.jobs_in({"open"}, funded=True)))
        workflows.job_cancel(job_id=job_id)
        escrow = EscrowContract.objects.get(job_listing_id=job_id)
        assert (escrow.status, escrow.refunded_amount) == ("refunded", escrow.funded_amount)

    def jobs_in(self, statuses: set[str], *, funded: bool = False) -> list[int]:
        found = JobListing.objects.filter(pk__in=self.expected, status__in=statuses)
        if funded:
            found = found.filter(escrow__funded_amount__gt=0)
        return sorted(found.values_list("pk", flat=True))

    @precondition(lambda self: self.jobs_in(LIVE))
    @rule(data=st.data())
    def advance_live_work(self, data):
        """A job under way takes one of its next steps (most sequences would never reach a
        resolution or an auto-release by the rules one at a time)."""
        job_id = data.draw(st.sampled_from(self.jobs_in(LIVE)))
        status = JobListing.objects.get(pk=job_id).status
        step = data.draw(st.sampled_from(LIVE[status]))
        if step == "deliver":
            self.deliver(job_id)
        elif step == "dispute":
            self.dispute(job_id, data.draw(st.booleans()))
        elif step == "complete":
            self.complete(job_id)
        elif step == "resolve":
            self.resolve(data, data.draw(st.fractions(0, 1)), data.draw(st.booleans()))
        else:
            self.auto_release(overdue=True)

    @precondition(lambda self: self.jobs_in({"in_progress"}))
    @rule(data=st.data())
    def deliver_work_in_progress(self, data):
        self.deliver(data.draw(st.sampled_from(self.jobs_in({"in_progress"}))))

    @rule(job_id=jobs)
    def deliver(self, job_id):
        job = JobListing.objects.get(pk=job_id)
        worker = job.employee or EmployeeFactory()
        if job.status == "in_progress":
            jobs.job_deliver(job_id=job_id, employee=worker)
            job.refresh_from_db()
            assert job.auto_release_at > job.delivered_at
        elif job.employee is None:
            with pytest.raises(DomainError):  # nobody is assigned: whoever it is, not theirs
                jobs.job_deliver(job_id=job_id, employee=worker)
        else:
            with pytest.raises(Conflict):
                jobs.job_deliver(job_id=job_id, employee=worker)

    @precondition(lambda self: self.jobs_in(DISPUTABLE))
    @rule(data=st.data(), by_worker=st.booleans())
    def dispute_live_work(self, data, by_worker):
        self.dispute(data.draw(st.sampled_from(self.jobs_in(DISPUTABLE))), by_worker)

    @rule(job_id=jobs, by_worker=st.booleans())
    def dispute(self, job_id, by_worker):
        job = JobListing.objects.select_related("escrow").get(pk=job_id)
        user = job.employee if by_worker and job.employee else job.employer
        if job.status in DISPUTABLE:
            workflows.job_dispute(job_id=job_id, user=user, reason="Not as agreed")
            job.refresh_from_db()
            assert (job.status, job.escrow.status) == ("disputed", "disputed")
        else:
            before = (job.status, job.escrow.status, Dispute.objects.count())
            with pytest.raises(Conflict):
                workflows.job_dispute(job_id=job_id, user=user, reason="Not as agreed")
            job = JobListing.objects.select_related("escrow").get(pk=job_id)
            assert (job.status, job.escrow.status, Dispute.objects.count()) == before

    @precondition(lambda self: self.jobs_in({"disputed"}))
    @rule(data=st.data(), share=st.fractions(min_value=0, max_value=1), adds_up=st.booleans())
    def resolve(self, data, share, adds_up):
        """A random split an arbiter may make (P14); one that does not add up writes nothing."""
        job_id = data.draw(st.sampled_from(self.jobs_in({"disputed"})))
        held = EscrowContract.objects.get(job_listing_id=job_id).held_amount
        to_employee = (held * share.numerator / share.denominator).quantize(
            Decimal("1"), rounding=ROUND_DOWN
        )
        if 0 < to_employee < MIN_SHARE:
            to_employee = ZERO
        if 0 < held - to_employee < MIN_SHARE:
            to_employee = held
        to_employer = held - to_employee  # carries the cents of an escrow that has any
        if not adds_up:
            with pytest.raises(DomainError):
                workflows.job_resolve(
                    job_id=job_id,
                    arbiter=self.arbiter,
                    to_employee=to_employee,
                    to_employer=to_employer + Decimal("0.01"),
                )
            assert JobListing.objects.get(pk=job_id).status == "disputed"
            return
        workflows.job_resolve(
            job_id=job_id, arbiter=self.arbiter, to_employee=to_employee, to_employer=to_employer
        )
        self.expected[job_id]["split"] = (to_employee, to_employer)
        with pytest.raises(Conflict):  # decided once
            workflows.job_resolve(
                job_id=job_id, arbiter=self.arbiter, to_employee=held, to_employer=ZERO
            )

    @precondition(lambda self: self.jobs_in({"delivered"}))
    @rule(overdue=st.booleans())
    def auto_release(self, overdue):
        """The clock: delivered jobs' windows end (or not yet), and the sweep runs (P15)."""
        delivered = self.jobs_in({"delivered"})
        if overdue:
            JobListing.objects.filter(pk__in=delivered).update(
                auto_release_at=timezone.now() - timedelta(seconds=1)
            )
        untouched = {
            job.pk: (job.status, job.escrow.status)
            for job in JobListing.objects.select_related("escrow").exclude(pk__in=delivered)
        }
        released = auto_release_sweep()
        assert released == (len(delivered) if overdue else 0)
        for job in JobListing.objects.select_related("escrow").filter(pk__in=delivered):
            assert job.status == ("completed" if overdue else "delivered")
        for job in JobListing.objects.select_related("escrow").exclude(pk__in=delivered):
            assert (job.status, job.escrow.status) == untouched[job.pk]

    @precondition(lambda self: self.failed_payouts())
    @rule(data=st.data())
    def retry_a_failed_payout(self, data):
        """An admin's retry: a new attempt under a new reference, once (P5)."""
        failed = data.draw(st.sampled_from(self.failed_payouts()))
        retry = payouts.payout_retry(payout_id=failed)
        assert retry.retry_of_id == failed
        assert "-R" in retry.reference
        with pytest.raises(Conflict):
            payouts.payout_retry(payout_id=failed)

    def failed_payouts(self) -> list[int]:
        failed = MobileMoneyPayout.objects.filter(status="failed", retried_by__isnull=True)
        return sorted(failed.values_list("pk", flat=True))

    @rule(
        ledger_fault=st.sampled_from([None, "fail_before_apply", "lose_answer_after_apply"]),
        payout_fault=st.sampled_from(
            [
                None,
                ("lose_answers", 1),  # M-Pesa takes the B2C request, its answer is lost
                ("b2c_result_code", 2040),  # accepted, then refused in the result
                ("hold_callbacks", True),  # the result comes late (or only by status query)
                ("callback_copies", 2),  # every callback twice
                ("b2c_reject", 1),  # Daraja refuses the request outright
            ]
        ),
        callbacks_arrive=st.booleans(),
    )
    def run_outbound_work(self, ledger_fault, payout_fault, callbacks_arrive):
        ledger, daraja = get_ledger(), self.sandbox.daraja
        if ledger_fault:
            setattr(ledger.faults, ledger_fault, 1)
        if payout_fault:
            setattr(daraja.faults, *payout_fault)
        ledger_sweep()
        announcement_sweep()  # money out reacts to what the ledger confirmed
        payout_sweep()
        ledger.faults.__init__()
        daraja.reset_faults()
        if callbacks_arrive:  # M-Pesa's results and Transaction Status answers reach us now
            daraja.release_held()
            daraja.deliver_pending()

    @precondition(lambda self: self.sent())
    @rule(news=st.sampled_from(["accepted", "completed", "failed"]), data=st.data())
    def late_provider_news(self, news, data):
        """News only of transfers M-Pesa was asked for: of no other can it say anything."""
        reference = data.draw(st.sampled_from(self.sent()))
        payouts.payout_apply_result(reference=reference, result=PayoutResult(news, "LATE"))

    def sent(self) -> list[str]:
        asked = self.sandbox.daraja.sent("/mpesa/b2c/v3/paymentrequest")
        return sorted({body["OriginatorConversationID"] for body in asked})

    @invariant()
    def books_balance_and_match_the_model(self):
        assert_books_balance()
        for job_id, expected in self.expected.items():
            escrow = EscrowContract.objects.get(job_listing_id=job_id)
            assert escrow.funded_amount == expected["funded"]
            assert escrow.funded_amount <= escrow.amount
            surplus = sum(d.surplus_amount for d in escrow.deposits.all())
            assert surplus == expected["surplus"]
        unmatched = MpesaDeposit.objects.filter(escrow_contract__isnull=True)
        assert sum(d.amount for d in unmatched) == self.unmatched

    @invariant()
    def what_left_each_escrow_is_what_its_ending_says(self):
        for job_id, expected in self.expected.items():
            escrow = EscrowContract.objects.get(job_listing_id=job_id)
            out = (escrow.released_amount, escrow.refunded_amount)
            if escrow.status == "released":
                assert out == (escrow.funded_amount, ZERO)
            elif escrow.status == "refunded":
                assert out == (ZERO, escrow.funded_amount)
            elif escrow.status == "resolved":
                assert out == expected["split"]
                assert sum(out) == escrow.funded_amount
            else:
                assert out == (ZERO, ZERO)

    @invariant()
    def each_provider_transaction_applied_once(self):
        ids = list(MpesaDeposit.objects.values_list("transaction_reference", flat=True))
        assert len(ids) == len(set(ids))
        keys = get_ledger().applied_operations()
        assert len(keys) == len(set(keys))
        for escrow in on_chain_escrows():
            on_chain = get_ledger().get(escrow.contract_id)
            assert on_chain.funded <= to_chain(escrow.funded_amount)
            assert on_chain.released <= to_chain(escrow.released_amount)
            assert on_chain.refunded <= to_chain(escrow.refunded_amount)

    @invariant()
    def states_are_legal_and_payouts_final(self):
        for job in JobListing.objects.select_related("escrow"):
            assert (job.status, job.escrow.status) in LEGAL_PAIRS
        for payout in MobileMoneyPayout.objects.select_related("escrow_contract", "deposit"):
            if payout.kind == "surplus":
                assert payout.amount == payout.deposit.surplus_amount > 0
            else:
                assert payout.escrow_contract.status in PAID_OUT_FROM[payout.kind]
            if payout.reference in self.paid:
                assert payout.status == "completed"
            if payout.status == "completed":
                self.paid.add(payout.reference)
        # P12: one payout per escrow, kind and recipient (or per deposit's surplus), retries aside
        owed = MobileMoneyPayout.objects.filter(retry_of__isnull=True).values_list(
            "escrow_contract", "deposit", "kind", "recipient"
        )
        assert len(owed) == len(set(owed))
        for retry in MobileMoneyPayout.objects.filter(retry_of__isnull=False):
            first = retry.retry_of
            assert first.status == "failed"
            assert (retry.kind, retry.recipient, retry.amount) == (
                first.kind,
                first.recipient,
                first.amount,
            )

    def teardown(self):
        # Quiesce: with no faults, the sweeps finish everything and the ledger agrees with us.
        for _ in range(3):
            ledger_sweep()
            announcement_sweep()
            payout_sweep()
            self.sandbox.daraja.release_held()
            self.sandbox.daraja.deliver_pending()
        for escrow in on_chain_escrows():
            on_chain = get_ledger().get(escrow.contract_id)
            assert on_chain.funded == to_chain(escrow.funded_amount)
            assert on_chain.released == to_chain(escrow.released_amount)
            assert on_chain.refunded == to_chain(escrow.refunded_amount)
        assert not MobileMoneyPayout.objects.filter(status__in=["pending", "processing"]).exists()


@pytest.fixture
def fresh_world(settings, tmp_path, sandbox):
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    counter = itertools.count()

    def configure() -> Sandbox:
        n = next(counter)
        settings.LOCAL_LEDGER_PATH = tmp_path / f"ledger-{n}.sqlite3"
        get_ledger.cache_clear()
        get_payout_provider.cache_clear()
        sandbox.reset()  # M-Pesa forgets every payment, token and registration
        return sandbox

    return configure


HYPOTHESIS = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_the_books_hold_under_any_sequence(db, fresh_world):
    run_state_machine_as_test(lambda: Books(fresh_world), settings=HYPOTHESIS)


def test_the_model_catches_money_that_goes_missing(db, fresh_world, monkeypatch):
    """The checker is not vacuous: a credit that never reaches the escrow must be caught."""
    monkeypatch.setattr(deposits, "escrow_credit", lambda **kwargs: None)
    with pytest.raises(AssertionError, match="books do not balance"):
        run_state_machine_as_test(
            lambda: Books(fresh_world),
            settings=settings(
                HYPOTHESIS,
                max_examples=20,
                derandomize=True,
                database=None,
                phases=[Phase.generate],
            ),
        )
