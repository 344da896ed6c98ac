"""P8: only legal state transitions. Every (state, action) pair of every machine is checked."""

import itertools

import pytest

from escrow.models import ESCROW_MACHINE, EscrowStatus
from jobs.models import JOB_MACHINE, JobStatus
from kazi.states import IllegalTransition
from payouts.models import PAYOUT_MACHINE, PayoutStatus

LEGAL = {
    "job": (
        JOB_MACHINE,
        JobStatus,
        {
            ("open", "assign"): "assigned",
            ("assigned", "start"): "in_progress",
            ("in_progress", "deliver"): "delivered",
            ("in_progress", "complete"): "completed",
            ("delivered", "complete"): "completed",
            ("open", "cancel"): "cancelled",
            ("assigned", "cancel"): "cancelled",
            ("assigned", "dispute"): "disputed",
            ("in_progress", "dispute"): "disputed",
            ("delivered", "dispute"): "disputed",
            ("disputed", "resolve"): "resolved",
        },
    ),
    "escrow": (
        ESCROW_MACHINE,
        EscrowStatus,
        {
            ("pending_deposit", "fund"): "funded",
            ("funded", "start"): "in_progress",
            ("in_progress", "complete"): "completed",
            ("completed", "confirm_release"): "released",
            ("pending_deposit", "refund"): "refunded",
            ("funded", "refund"): "refunded",
            ("funded", "dispute"): "disputed",
            ("in_progress", "dispute"): "disputed",
            ("disputed", "resolve"): "resolved",
        },
    ),
    "payout": (
        PAYOUT_MACHINE,
        PayoutStatus,
        {
            ("pending", "submit"): "processing",
            ("pending", "succeed"): "completed",
            ("processing", "succeed"): "completed",
            ("pending", "fail"): "failed",
            ("processing", "fail"): "failed",
        },
    ),
}


def every_pair():
    for name, (machine, states, legal) in LEGAL.items():
        actions = sorted({action for _, action in legal} | {"reopen"})
        for state, action in itertools.product(states.values, actions):
            yield pytest.param(
                machine, state, action, legal.get((state, action)), id=f"{name}-{state}-{action}"
            )


class Row:
    def __init__(self, status):
        self.status = status


@pytest.mark.parametrize(("machine", "state", "action", "target"), list(every_pair()))
def test_every_state_action_pair(machine, state, action, target):
    row = Row(state)
    if target is None:
        with pytest.raises(IllegalTransition):
            machine.apply(row, action)
        assert row.status == state
    else:
        assert machine.apply(row, action) == target
        assert row.status == target


def test_the_tables_are_exactly_the_documented_ones():
    for machine, _, legal in LEGAL.values():
        assert machine.transitions == legal


@pytest.mark.parametrize("status", ["released", "refunded", "disputed", "completed"])
def test_escrow_terminal_and_late_states_cannot_be_funded_or_started(status):
    for action in ("fund", "start", "complete"):
        assert not ESCROW_MACHINE.allows(status, action)


def test_an_illegal_transition_is_a_409():
    with pytest.raises(IllegalTransition) as err:
        JOB_MACHINE.apply(Row("completed"), "complete")
    assert err.value.status_code == 409
    assert "completed" in err.value.message
