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


class PayoutProvider(Protocol):
    def send(self, *, reference: str, msisdn: str, amount: Decimal) -> PayoutResult: ...

    def status(self, *, reference: str) -> PayoutResult: ...
