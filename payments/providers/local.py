"""The embedded default payout provider. Like a real one it answers "accepted" and reports the
outcome later by calling back, remembers every reference (a repeated send pays nothing twice) and
answers status queries. Fault switches let tests make it misbehave the ways real ones do."""

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from kazi.outbound import dispatch_on_commit
from kazi.sqlite_store import SqliteStore
from payments.providers.base import PayoutResult, PayoutUnavailable

SCHEMA = """
create table if not exists payouts (
    reference text primary key, request text not null, status text not null,
    transaction_id text not null, reason text not null default '', planned text not null
);
"""


@dataclass
class PayoutFaults:
    reject: int = 0  # refuse the next sends outright
    lose_answer: int = 0  # accept the next sends, then time out before answering
    fail_later: int = 0  # accept the next sends, then call back with a failure
    hold_callbacks: bool = False  # accept, and never call back (only a status query tells)
    duplicate_callbacks: bool = False  # call back twice


class LocalPayoutProvider:
    def __init__(self, path: Path) -> None:
        self.store = SqliteStore(path, SCHEMA)
        self.faults = PayoutFaults()
        self.sends: list[str] = []  # references as received, for tests

    def send(self, *, reference: str, msisdn: str, amount: Decimal) -> PayoutResult:
        self.sends.append(reference)
        request = json.dumps({"phone_number": msisdn, "amount": f"{amount:.2f}", "currency": "KES"})
        with self.store.write() as db:
            row = db.execute("select * from payouts where reference = ?", (reference,)).fetchone()
            if row is not None:
                if row["request"] != request:
                    return PayoutResult("failed", row["transaction_id"], "duplicate reference")
                return self._result(row)
            status, planned, reason = "accepted", "completed", ""
            if self.faults.reject:
                self.faults.reject -= 1
                status, planned, reason = "failed", "failed", "Recipient not registered"
            elif self.faults.fail_later:
                self.faults.fail_later -= 1
                planned, reason = "failed", "Recipient account limit reached"
            transaction_id = "LP" + hashlib.sha256(reference.encode()).hexdigest()[:10].upper()
            db.execute(
                "insert into payouts values (?, ?, ?, ?, ?, ?)",
                (reference, request, status, transaction_id, reason, planned),
            )
        if status == "accepted" and not self.faults.hold_callbacks:
            from payments.tasks import local_payout_callback  # tasks import the services

            for _ in range(2 if self.faults.duplicate_callbacks else 1):
                dispatch_on_commit(local_payout_callback, reference)
        if self.faults.lose_answer:
            self.faults.lose_answer -= 1
            raise PayoutUnavailable("timed out waiting for the provider (injected fault)")
        return PayoutResult(status, transaction_id, reason)

    def status(self, *, reference: str) -> PayoutResult:
        return self.settle(reference)

    def settle(self, reference: str) -> PayoutResult:
        """The provider finishes the transfer: by the time it calls back or anyone asks, an
        accepted transfer has reached its planned outcome."""
        with self.store.write() as db:
            db.execute(
                "update payouts set status = planned where reference = ? and status = 'accepted'",
                (reference,),
            )
            row = db.execute("select * from payouts where reference = ?", (reference,)).fetchone()
        return self._result(row) if row else PayoutResult("not_found")

    @staticmethod
    def _result(row: dict) -> PayoutResult:
        return PayoutResult(row["status"], row["transaction_id"], row["reason"])
