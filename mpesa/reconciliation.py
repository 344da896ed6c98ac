"""Compare what M-Pesa says we received on a day (the organisation statement the M-Pesa portal
exports as CSV) with the deposits in our books."""

import csv
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db.models import Q

from mpesa.models import MpesaDeposit


@dataclass(frozen=True)
class Difference:
    receipt: str
    problem: str


def _statement_date(value: str) -> date | None:
    for layout in ("%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(value.strip(), layout).date()
        except ValueError:
            continue
    return None


def read_statement(path: Path, day: date) -> dict[str, Decimal]:
    """Receipt -> amount paid in, for completed credits on `day`."""
    paid_in: dict[str, Decimal] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            if _statement_date(row.get("Completion Time", "")) != day:
                continue
            if row.get("Transaction Status", "Completed").strip() != "Completed":
                continue
            try:
                amount = Decimal(row.get("Paid In", "").replace(",", "").strip() or "0")
            except InvalidOperation:
                continue
            if amount > 0:
                paid_in[row["Receipt No."].strip()] = amount
    return paid_in


def reconcile(*, statement: dict[str, Decimal], day: date) -> list[Difference]:
    differences = []
    receipts = set(statement)
    known = MpesaDeposit.objects.filter(
        Q(receipt_number__in=receipts) | Q(transaction_reference__in=receipts)
    )
    by_receipt = {d.receipt_number or d.transaction_reference: d for d in known}
    for receipt, amount in sorted(statement.items()):
        deposit = by_receipt.get(receipt)
        if deposit is None:
            differences.append(Difference(receipt, f"KES {amount} received, not in our books"))
        elif deposit.amount != amount:
            differences.append(
                Difference(receipt, f"M-Pesa says KES {amount}, our books KES {deposit.amount}")
            )
    ours = MpesaDeposit.objects.filter(created_at__date=day, status="completed")
    for deposit in ours:
        receipt = deposit.receipt_number or deposit.transaction_reference
        if receipt not in receipts:
            differences.append(
                Difference(receipt, f"KES {deposit.amount} in our books, not on the statement")
            )
    return differences
