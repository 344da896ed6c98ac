"""The payout port: send mobile money to a phone, keyed by our reference, and ask how it went."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

Outcome = Literal["accepted", "completed", "failed", "not_found"]


class PayoutUnavailable(Exception):
    """Transport trouble or a lost answer: the outcome is unknown until the status is queried."""


@dataclass(frozen=True)
class PayoutResult:
    outcome: Outcome
    transaction_reference: str = ""
    reason: str = ""


def cents_refusal(amount: Decimal) -> PayoutResult | None:
    """M-Pesa moves whole shillings: an amount with cents is refused before anything is sent,
    rather than rounded (up would pay money nobody released, down would leave the worker short)."""
    if amount == amount.to_integral_value():
        return None
    return PayoutResult("failed", "", f"M-Pesa pays whole shillings only; KES {amount} has cents")


class RequestRecords(Protocol):
    """Where an adapter keeps the provider's ids for our reference, saved before the call that can
    move money, so that after a lost answer it looks the request up instead of sending again."""

    def get(self, reference: str) -> dict[str, str]: ...

    def save(self, reference: str, record: dict[str, str]) -> None: ...


class PayoutProvider(Protocol):
    def send(self, *, reference: str, msisdn: str, amount: Decimal) -> PayoutResult: ...

    def status(self, *, reference: str) -> PayoutResult: ...
