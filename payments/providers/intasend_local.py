"""A local IntaSend: checks the secret key and the send-money payload like the real one, holds
each batch for approval (initiate, approve, sending, completed), answers status queries by
tracking id, and posts send-money events with the configured challenge to our webhook. It
has fault switches for tests."""

import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
from django.utils import timezone

from kazi.outbound import dispatch_on_commit
from kazi.sqlite_store import SqliteStore
from payments.providers.intasend import APPROVE, AWAITING_APPROVAL, INITIATE, STATUS

SCHEMA = """
create table if not exists batches (
    tracking_id text primary key, nonce text not null, request text not null,
    status_code text not null, item_code text not null, planned text not null,
    reason text not null default ''
);
"""
BATCH_STATUS = {
    AWAITING_APPROVAL: "Preview and approve",
    "BP109": "Sending payment",
    "BC100": "Completed",
    "BF102": "Failed Processing",
}
ITEM_STATUS = {"TP101": "Pending", "TP102": "Processing", "TS100": "Successful", "TF106": "Failed"}


@dataclass
class PayoutFaults:
    reject: int = 0  # refuse the next sends outright
    lose_answer: int = 0  # accept the next sends, then time out before answering
    fail_later: int = 0  # accept the next sends, then call back with a failure
    hold_callbacks: bool = False  # accept, and never call back (only a status query tells)
    duplicate_callbacks: bool = False  # call back twice


def receipt_number(seed: str) -> str:
    """An M-Pesa-looking receipt (10 upper-case letters and digits), stable for a seed."""
    digest = hashlib.sha256(seed.encode()).hexdigest().upper()
    return "T" + "".join(ch for ch in digest if ch.isalnum())[:9]


def _error(status: int, details: str) -> httpx.Response:
    return httpx.Response(status, json={"details": details})


class LocalIntasend(httpx.BaseTransport):
    def __init__(self, path: Path, secret_key: str, challenge: str, callback_url: str) -> None:
        self.store = SqliteStore(path, SCHEMA)
        self.secret_key = secret_key
        self.challenge = challenge
        self.callback_url = callback_url
        self.faults = PayoutFaults()
        self.sends: list[dict] = []  # initiate payloads as received, for tests
        self.approvals: list[str] = []  # tracking ids approved, for tests

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {self.secret_key}":
            return _error(401, "Invalid token.")
        try:
            payload = json.loads(request.content)
        except ValueError:
            return _error(400, "JSON parse error")
        handler = {INITIATE: self._initiate, APPROVE: self._approve, STATUS: self._status}.get(
            request.url.path
        )
        if request.method != "POST" or handler is None:
            return _error(404, "Not found.")
        return handler(payload)

    def _initiate(self, payload: dict) -> httpx.Response:
        self.sends.append(payload)
        if bad := _invalid(payload):
            return _error(400, bad)
        if self.faults.reject:
            self.faults.reject -= 1
            return _error(400, "Insufficient balance to complete this request")
        planned, reason = "TS100", ""
        if self.faults.fail_later:
            self.faults.fail_later -= 1
            planned, reason = "TF106", "Recipient account limit reached"
        tracking_id = str(uuid.uuid4())
        with self.store.write() as db:
            db.execute(
                "insert into batches values (?, ?, ?, ?, 'TP101', ?, ?)",
                (
                    tracking_id,
                    secrets.token_hex(3),
                    json.dumps(payload),
                    AWAITING_APPROVAL,
                    planned,
                    reason,
                ),
            )
        if payload["requires_approval"] == "NO":
            return self._approve({"tracking_id": tracking_id}, checked=False)
        return httpx.Response(200, json=self.batch(tracking_id, with_nonce=True))

    def _approve(self, payload: dict, checked: bool = True) -> httpx.Response:
        tracking_id = str(payload.get("tracking_id"))
        with self.store.write() as db:
            row = db.execute("select * from batches where tracking_id = ?", (tracking_id,))
            row = row.fetchone()
            if row is None:
                return _error(404, "Not found.")
            if checked and payload.get("nonce") != row["nonce"]:
                return _error(400, "Invalid nonce")
            if row["status_code"] == AWAITING_APPROVAL:
                db.execute(
                    "update batches set status_code = 'BP109', item_code = 'TP102' "
                    "where tracking_id = ?",
                    (tracking_id,),
                )
                self.approvals.append(tracking_id)
                self._call_back(tracking_id)
        if self.faults.lose_answer:
            self.faults.lose_answer -= 1
            raise httpx.ReadTimeout("timed out waiting for IntaSend (injected fault)")
        return httpx.Response(200, json=self.batch(tracking_id))

    def _status(self, payload: dict) -> httpx.Response:
        tracking_id = str(payload.get("tracking_id"))
        if not self.settle(tracking_id):
            return _error(404, "Not found.")
        return httpx.Response(200, json=self.batch(tracking_id))

    def settle(self, tracking_id: str) -> bool:
        """IntaSend finishes sending: by the time it posts an event or anyone asks, an approved
        batch has reached its planned outcome."""
        with self.store.write() as db:
            db.execute(
                "update batches set status_code = 'BC100', item_code = planned "
                "where tracking_id = ? and status_code = 'BP109'",
                (tracking_id,),
            )
            found = db.execute("select 1 from batches where tracking_id = ?", (tracking_id,))
            return found.fetchone() is not None

    def _call_back(self, tracking_id: str) -> None:
        if self.faults.hold_callbacks:
            return
        from payments.tasks import local_intasend_settle  # tasks import the providers

        for _ in range(2 if self.faults.duplicate_callbacks else 1):
            dispatch_on_commit(local_intasend_settle, tracking_id)

    def event(self, tracking_id: str) -> str:
        """A send-money event for our webhook, as IntaSend posts it."""
        self.settle(tracking_id)
        return json.dumps({**self.batch(tracking_id), "challenge": self.challenge})

    def batch(self, tracking_id: str, with_nonce: bool = False) -> dict:
        with self.store.connect() as db:
            row = db.execute(
                "select * from batches where tracking_id = ?", (tracking_id,)
            ).fetchone()
        request = json.loads(row["request"])
        item = request["transactions"][0]
        amount = Decimal(item["amount"])
        paid = row["item_code"] == "TS100"
        now = timezone.now().isoformat()
        body = {
            "file_id": tracking_id[:7].upper(),
            "tracking_id": tracking_id,
            "batch_reference": None,
            "status": BATCH_STATUS[row["status_code"]],
            "status_code": row["status_code"],
            "transactions": [
                {
                    "transaction_id": tracking_id[-7:].upper(),
                    "status": ITEM_STATUS[row["item_code"]],
                    "status_code": row["item_code"],
                    "status_description": row["reason"] if row["item_code"] == "TF106" else "",
                    "request_reference_id": str(uuid.uuid5(uuid.NAMESPACE_URL, tracking_id)),
                    "provider": request["provider"],
                    "name": item["name"],
                    "account": item["account"],
                    "provider_reference": receipt_number(tracking_id) if paid else "",
                    "amount": f"{amount:.2f}",
                    "narrative": item["narrative"],
                    "currency": request["currency"],
                }
            ],
            "paid_amount": f"{amount if paid else 0:.2f}",
            "transactions_count": 1,
            "created_at": now,
            "updated_at": now,
        }
        return {**body, "nonce": row["nonce"]} if with_nonce else body


def _invalid(payload: dict) -> str | None:
    """Why IntaSend would refuse this M-Pesa B2C request, or None."""
    if payload.get("provider") != "MPESA-B2C" or payload.get("currency") != "KES":
        return "provider must be MPESA-B2C and currency KES"
    if payload.get("requires_approval") not in {"YES", "NO"}:
        return "requires_approval must be YES or NO"
    items = payload.get("transactions")
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        return "transactions must list the payments"
    item = items[0]
    if not re.fullmatch(r"254[17]\d{8}", str(item.get("account"))):
        return "account must be a phone number like 2547XXXXXXXX"
    if not str(item.get("amount")).isdigit() or not 10 <= int(item["amount"]) <= 250000:
        return "amount must be whole shillings from 10 to 250000"
    if not item.get("name") or not item.get("narrative"):
        return "name and narrative are required"
    return None
