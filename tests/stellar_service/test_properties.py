"""P9 and P2 under random sequences (Hypothesis, stateful): after every step the escrows' held
sums equal the contract's token balance, no token is created or lost, each escrow pays out at most
once, a closed escrow stays closed, every key is applied at most once, replays answer the same,
and reused keys with another request change nothing. Faults (lost before or after applying) are
retried with the same key."""

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from stellar_service.backends.base import Escrow, IdempotencyConflict, Unavailable
from stellar_service.backends.local import CLOSED, LocalBackend
from stellar_service.config import LOCAL_CONTRACT_ADDRESS, LOCAL_FUNDER_ACCOUNT, local_account
from stellar_service.service import EscrowService
from stellar_service.store import Answer, IdempotencyStore
from tests.stellar_service.conftest import WORKER, WORKER_MUXED, world

FLOAT = 50_000
FEE_BPS = 333  # an awkward fee, so rounding is exercised
REFS = ["ESCROW_AAAAAAAA", "ESCROW_BBBBBBBB", "ESCROW_CCCCCCCC"]
WORKER2 = local_account("property worker 2")
PAYEES = [WORKER, WORKER_MUXED, WORKER2]
PAYOUTS = {"release", "refund", "resolve"}

refs = st.sampled_from(REFS)
amounts = st.integers(min_value=1, max_value=6_000)


class EscrowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        path = self.dir / "service.sqlite3"
        self.backend = LocalBackend(path, float_amount=FLOAT, fee_bps=FEE_BPS)
        self.service = EscrowService(self.backend, IdempotencyStore(path))
        self.sent: list[tuple[str, str, dict, Answer]] = []
        self.paid_out: dict[str, str] = {}
        self.closed: dict[str, str] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.dir)

    def call(self, operation: str, **args: object) -> Answer:
        key = f"key-{len(self.sent)}"
        for _ in range(3):  # at most two armed faults, then it must answer
            try:
                answer = getattr(self.service, operation)(key=key, **args)
                break
            except Unavailable:
                continue
        else:
            pytest.fail(f"{operation} {key} never answered")
        self.sent.append((operation, key, args, answer))
        if operation in PAYOUTS and answer.status_code == 200:
            reference = str(args["contract_id"])
            assert reference not in self.paid_out, f"{reference} paid out twice"
            self.paid_out[reference] = operation
        return answer

    def escrow(self, reference: str) -> Escrow | None:
        return next((e for e in self.backend.escrows() if e.contract_id == reference), None)

    @rule(reference=refs, amount=amounts)
    def create(self, reference: str, amount: int) -> None:
        self.call("create", contract_id=reference, amount=amount)

    @rule(reference=refs, amount=amounts)
    def fund(self, reference: str, amount: int) -> None:
        self.call("fund", contract_id=reference, amount=amount)

    @rule(reference=refs)
    def fund_the_rest(self, reference: str) -> None:
        """Random amounts rarely fill an escrow exactly; releases need it filled."""
        escrow = self.escrow(reference)
        remaining = escrow.amount - escrow.funded if escrow else 1
        self.call("fund", contract_id=reference, amount=max(remaining, 1))

    @rule(reference=refs, payee=st.sampled_from(PAYEES))
    def assign(self, reference: str, payee: str) -> None:
        self.call("assign", contract_id=reference, payee=payee)

    @rule(reference=refs, operation=st.sampled_from(["release", "refund", "dispute"]))
    def act(self, reference: str, operation: str) -> None:
        self.call(operation, contract_id=reference)

    @rule(reference=refs, data=st.data())
    def resolve(self, reference: str, data: st.DataObject) -> None:
        escrow = self.escrow(reference)
        funded = escrow.funded if escrow else 0
        to_payee = data.draw(st.integers(min_value=-1, max_value=funded + 1))
        to_funder = data.draw(st.sampled_from([funded - to_payee, funded - to_payee + 1]))
        self.call("resolve", contract_id=reference, to_payee=to_payee, to_funder=to_funder)

    @rule(fault=st.sampled_from(["fail_before_apply", "lose_answer_after_apply"]))
    def arm_fault(self, fault: str) -> None:
        setattr(self.backend.faults, fault, 1)

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        operation, key, args, answer = data.draw(st.sampled_from(self.sent))
        before = world(self.backend)
        again = getattr(self.service, operation)(key=key, **args)
        assert (again.status_code, again.body) == (answer.status_code, answer.body)
        assert world(self.backend) == before

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def reuse_key_for_another_request(self, data: st.DataObject) -> None:
        operation, key, args, _ = data.draw(st.sampled_from(self.sent))
        other = REFS[(REFS.index(str(args["contract_id"])) + 1) % len(REFS)]
        before = world(self.backend)
        with pytest.raises(IdempotencyConflict):
            getattr(self.service, operation)(key=key, **{**args, "contract_id": other})
        assert world(self.backend) == before

    @invariant()
    def money_adds_up(self) -> None:
        escrows = self.backend.escrows()
        balances = self.backend.balances()
        for escrow in escrows:
            assert 0 <= escrow.funded <= escrow.amount
            assert escrow.funded == escrow.held + escrow.released + escrow.fee + escrow.refunded
        held = sum(e.held for e in escrows)
        paid = sum(e.released for e in escrows)
        fees = sum(e.fee for e in escrows)
        assert balances.get(LOCAL_CONTRACT_ADDRESS, 0) == held
        assert balances.get(WORKER, 0) + balances.get(WORKER2, 0) == paid
        assert balances.get(self.backend.fee_account, 0) == fees
        assert balances[LOCAL_FUNDER_ACCOUNT] == FLOAT - held - paid - fees
        assert sum(balances.values()) == FLOAT

    @invariant()
    def closed_escrows_stay_closed(self) -> None:
        for escrow in self.backend.escrows():
            if escrow.contract_id in self.closed:
                assert escrow.status == self.closed[escrow.contract_id]
            elif escrow.status in CLOSED:
                self.closed[escrow.contract_id] = escrow.status

    @invariant()
    def each_key_is_applied_at_most_once(self) -> None:
        applied = self.backend.applied_operations()
        assert len(applied) == len(set(applied))
        succeeded = {key for _, key, _, answer in self.sent if answer.status_code == 200}
        assert set(applied) == succeeded


def test_escrow_money_invariants() -> None:
    run_state_machine_as_test(
        EscrowMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
