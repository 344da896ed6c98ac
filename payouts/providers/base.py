"""The payout port: send mobile money to a phone, keyed by our reference, and ask how it went."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Protocol

from kazi.money import MIN_MPESA_PAYOUT
from kazi.unavailable import Unavailable

Outcome = Literal["accepted", "completed", "failed", "not_found"]


class PayoutUnavailable(Unavailable):
    """The provider could not take the request now (transport trouble, a lost answer, 408, 429,
    5xx, a key it no longer takes): the outcome is unknown until the status is queried."""


@dataclass(frozen=True)
class PayoutResult:
    """What the provider said. `request_ids` are the ids it gave our request (kept on the
    payout, so that later news naming only those ids finds it)."""

    outcome: Outcome
    transaction_reference: str = ""
    reason: str = ""
    request_ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PayoutKeys:
    """What a provider's news names a payout by: ids given to its request (our reference, or
    the provider's request ids saved in `provider_request`) and the transfer's receipts."""

    request_ids: frozenset[str]
    receipts: frozenset[str]

    def __str__(self) -> str:
        return ", ".join(sorted(self.request_ids | self.receipts)) or "no identifier"


def mpesa_refusal(amount: Decimal) -> PayoutResult | None:
    """What M-Pesa would refuse is refused before anything is sent: an amount with cents
    (rounding up would pay money nobody released, down would leave the payee short) or below its
    KES 10 minimum (a small surplus or share is left failed, for an operator to return by
    reversal or by hand)."""
    if amount != amount.to_integral_value():
        reason = f"M-Pesa pays whole shillings only; KES {amount} has cents"
    elif amount < MIN_MPESA_PAYOUT:
        reason = f"M-Pesa pays at least KES {MIN_MPESA_PAYOUT}; KES {amount} is less"
    else:
        return None
    return PayoutResult("failed", "", reason)


class RequestRecords(Protocol):
    """Where an adapter keeps the provider's ids for our reference, saved before the call that can
    move money, so that after a lost answer it looks the request up instead of sending again."""

    def get(self, reference: str) -> dict[str, str]: ...

    def save(self, reference: str, record: dict[str, str]) -> None: ...


class PayoutProvider(Protocol):
    def send(self, *, reference: str, msisdn: str, amount: Decimal) -> PayoutResult: ...

    def status(self, *, reference: str) -> PayoutResult: ...
