"""The local Intersend: the seed's payout API (spec/kazi-trust-system-logic.md, "Mobile Money
Integration (Intersend)") under the path prefix `/intersend`, as strict as the contract it
documents, never kinder:

- every request is signed: `X-API-Key`, `X-Timestamp` (Unix seconds) and `X-Signature`, the hex
  HMAC-SHA256 with the API secret over "{timestamp}.{body}" (the body empty for a GET). A missing
  or wrong key, a missing or wrong signature, and a timestamp more than five minutes away from
  now (a replayed or delayed request) are refused: 401 `{"error": ...}`;
- `POST /intersend/payouts/send` {phone_number 2547..., amount "1500.00", currency "KES",
  reference}: 202 with the payout, `pending`. Amounts are whole shillings (mobile money moves no
  cents) from 10 to 250,000; anything else is 422. A reference seen before with the same details
  answers the payout as it stands (nothing is paid twice), with other details 409;
- `GET /intersend/payouts/{reference}`: the payout as it stands, 404 if it never came.

Then the payout moves on by itself, a step at a time: `processing`, then `completed` or `failed`
(with its `failure_reason`), and every change is POSTed, signed the same way at the moment it
leaves, to the callback URL Intersend was given. Fault switches (`IntersendFaults`) make it
misbehave the ways a provider does."""

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from sandbox.config import IntersendAccount
from sandbox.deliver import Later
from sandbox.http import LostAnswer, json_response, parse_json
from sandbox.router import HANDLED, Sandbox, Switches

PREFIX = "/intersend"
SEND = f"{PREFIX}/payouts/send"
STATUS = re.compile(rf"{PREFIX}/payouts/(?P<reference>[^/]+)")
MAX_CLOCK_SKEW = 300  # seconds a signed request stays acceptable
PHONE = re.compile(r"254(?:7\d|1[01])\d{7}")  # Safaricom lines
AMOUNT = re.compile(r"\d{1,9}\.\d{2}")
REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,40}")
FAILED_LATER = "The recipient's mobile money account cannot receive this payment."

SCHEMA = """
create table if not exists intersend_payouts (
    reference text primary key, request text not null, phone_number text not null,
    amount text not null, currency text not null, status text not null,
    transaction_id text not null, failure_reason text not null default '',
    fails integer not null default 0, created_at text not null, updated_at text not null
);
"""


@dataclass
class IntersendFaults:
    """Switches: counters apply to that many next requests (or payouts), the others until turned
    off."""

    fail_requests: int = 0  # answer the next requests 503 before doing anything
    rate_limit: int = 0  # answer the next requests 429 with Retry-After
    retry_after: int = 30  # seconds, in those 429s
    reject: int = 0  # refuse the next sends outright (422: insufficient float)
    lose_answers: int = 0  # carry out the next API requests, then never answer them
    fail_later: int = 0  # the next payouts accepted fail later (a `failed` callback)
    callback_copies: int = 1  # 0: never call back, 2: every callback twice
    hold_callbacks: bool = False  # keep callbacks until release-held (only a status query tells)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def stamp() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def error(status: int, message: str) -> httpx.Response:
    return json_response(status, {"error": message})


class Intersend:
    name = "intersend"

    def __init__(self, account: IntersendAccount) -> None:
        self.account = account
        self.callback_url = account.callback_url
        self.faults = IntersendFaults()
        self.switches = Switches(self.faults)
        self.controls = {"callback": self._callback_control}

    def attach(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.deliveries = sandbox.deliveries
        self.store.add_schema(SCHEMA)
        self.deliveries.take_steps_with(self.name, self._step)
        self.deliveries.sign_with(self.name, self.signed_headers)

    def serves(self, path: str) -> bool:
        return path == PREFIX or path.startswith(f"{PREFIX}/")

    def reset(self) -> None:
        with self.store.write() as db:
            db.execute("delete from intersend_payouts")
        self.faults.__init__()
        self.callback_url = self.account.callback_url

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """How Intersend signs what it sends: the same scheme as our requests."""
        timestamp = str(int(time.time()))
        return {
            "X-API-Key": self.account.api_key,
            "X-Timestamp": timestamp,
            "X-Signature": sign(self.account.api_secret, timestamp, body),
        }

    # --- the door -----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.switches.take("fail_requests"):
            return httpx.Response(503, text="Service Unavailable")
        if self.switches.take("rate_limit"):
            wait = str(self.faults.retry_after)
            return json_response(429, {"error": "too many requests"}, {"Retry-After": wait})
        if refusal := self._authenticate(request):
            return refusal
        path = request.url.path
        status = STATUS.fullmatch(path)
        if path == SEND:
            if request.method != "POST":
                return error(405, "method not allowed")
            try:
                payload = parse_json(request)
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                return error(400, "the body must be a JSON object")
            request.extensions[HANDLED] = True
            response = self._send(payload)
        elif status:
            if request.method != "GET":
                return error(405, "method not allowed")
            request.extensions[HANDLED] = True
            response = self._status(status["reference"])
        else:
            return error(404, "not found")
        if self.switches.take("lose_answers"):
            raise LostAnswer
        return response

    def _authenticate(self, request: httpx.Request) -> httpx.Response | None:
        headers = request.headers
        key = headers.get("x-api-key", "")
        if not key or not secrets.compare_digest(key.encode(), self.account.api_key.encode()):
            return error(401, "invalid API key")
        timestamp, signature = headers.get("x-timestamp", ""), headers.get("x-signature", "")
        if not timestamp or not signature:
            return error(401, "missing signature")
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            return error(401, "invalid timestamp")
        if skew > MAX_CLOCK_SKEW:
            return error(401, "stale timestamp: more than 300 seconds from now")
        expected = sign(self.account.api_secret, timestamp, request.content)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return error(401, "invalid signature")
        return None

    # --- send and status ----------------------------------------------------------------------

    def _send(self, p: dict[str, Any]) -> httpx.Response:
        if refusal := self._invalid(p):
            return error(422, refusal)
        reference = p["reference"]
        details = json.dumps(
            {k: p[k] for k in ("phone_number", "amount", "currency", "reference")}, sort_keys=True
        )
        with self.store.write() as db:
            row = self._row(db, reference)
            if row is not None:
                if row["request"] != details:
                    return error(409, "reference already used with other details")
                return json_response(200, self.payout(row))  # the same request: nothing new
            if self.switches.take("reject"):
                return error(422, "insufficient float")
            at = stamp()
            digest = hashlib.sha256(f"{reference}{time.time_ns()}".encode()).hexdigest()
            db.execute(
                "insert into intersend_payouts (reference, request, phone_number, amount,"
                " currency, status, transaction_id, fails, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                (
                    reference,
                    details,
                    p["phone_number"],
                    p["amount"],
                    p["currency"],
                    "IS" + digest[:12].upper(),
                    int(self.switches.take("fail_later")),
                    at,
                    at,
                ),
            )
            step = self.deliveries.add_step(
                db, provider=self.name, action="process", payload={"reference": reference}
            )
            answer = self.payout(self._row(db, reference))
        self.deliveries.after_commit(Later(steps=[step]))
        return json_response(202, answer)

    def _invalid(self, p: dict[str, Any]) -> str:
        """Why Intersend would refuse this payout, or ""."""
        phone, amount = p.get("phone_number"), p.get("amount")
        if not isinstance(phone, str) or not PHONE.fullmatch(phone):
            return "phone_number must be a Safaricom number like 2547XXXXXXXX"
        if p.get("currency") != "KES":
            return "currency must be KES"
        if not isinstance(amount, str) or not AMOUNT.fullmatch(amount):
            return 'amount must be a string like "1500.00"'
        if not amount.endswith(".00"):
            return "amount must be whole shillings: mobile money moves no cents"
        whole = int(amount.split(".")[0])
        if not self.account.minimum <= whole <= self.account.maximum:
            return f"amount must be from {self.account.minimum} to {self.account.maximum:,}"
        reference = p.get("reference")
        if not isinstance(reference, str) or not REFERENCE.fullmatch(reference):
            return "reference must be 1 to 40 letters, digits, _ or -"
        return ""

    def _status(self, reference: str) -> httpx.Response:
        with self.store.connect() as db:
            row = self._row(db, reference)
        if row is None:
            return error(404, "unknown reference")
        return json_response(200, self.payout(row))

    # --- the payout moving on -----------------------------------------------------------------

    def _step(self, db: sqlite3.Connection, action: str, payload: dict[str, Any]) -> Later:
        row = self._row(db, payload["reference"])
        if row is None:
            return Later()
        if action == "process" and row["status"] == "pending":
            return self._move(db, row["reference"], "processing", next_step="settle")
        if action == "settle" and row["status"] == "processing":
            if row["fails"]:
                return self._move(db, row["reference"], "failed", reason=FAILED_LATER)
            return self._move(db, row["reference"], "completed")
        return Later()

    def _move(
        self,
        db: sqlite3.Connection,
        reference: str,
        status: str,
        *,
        reason: str = "",
        next_step: str = "",
    ) -> Later:
        db.execute(
            "update intersend_payouts set status = ?, failure_reason = ?, updated_at = ?"
            " where reference = ?",
            (status, reason, stamp(), reference),
        )
        news = self.payout(self._row(db, reference))
        later = Later(
            deliveries=[
                self.deliveries.add(
                    db,
                    provider=self.name,
                    kind="payout-callback",
                    url=self.callback_url,
                    body=news,
                    held=self.faults.hold_callbacks,
                )
                for _ in range(max(self.faults.callback_copies, 0))
            ]
        )
        if next_step:
            later.steps.append(
                self.deliveries.add_step(
                    db, provider=self.name, action=next_step, payload={"reference": reference}
                )
            )
        return later

    @staticmethod
    def _row(db: sqlite3.Connection, reference: str) -> sqlite3.Row | None:
        return db.execute(
            "select * from intersend_payouts where reference = ?", (reference,)
        ).fetchone()

    @staticmethod
    def payout(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "reference": row["reference"],
            "status": row["status"],
            "transaction_id": row["transaction_id"],
            "failure_reason": row["failure_reason"],
            "phone_number": row["phone_number"],
            "amount": row["amount"],
            "currency": row["currency"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    # --- control API, tests and humans --------------------------------------------------------

    def _callback_control(self, body: dict[str, Any]) -> tuple[int, object]:
        """POST /_sandbox/intersend/callback {"url"}: where Intersend posts payout news."""
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise ValueError("give the callback url")
        self.callback_url = url
        return 200, {"url": url}

    @property
    def requests(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """The API requests that reached a handler (authenticated, readable), in order."""
        return [
            (seen["method"], seen["path"], json.loads(seen["body"]) if seen["body"] else None)
            for seen in self.sandbox.requests_seen(self.name)
            if seen["handled"]
        ]

    def sends(self) -> list[dict[str, Any]]:
        return [body for method, path, body in self.requests if path == SEND and body]

    def payouts(self) -> list[dict[str, Any]]:
        return [self.payout(row) for row in self.store.all("select * from intersend_payouts")]

    def callbacks(self) -> list[dict[str, Any]]:
        """The callbacks posted (or held), oldest first."""
        return [
            d["body"] for d in reversed(self.deliveries.recent(1000)) if d["provider"] == self.name
        ]
