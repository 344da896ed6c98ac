"""The local IntaSend: its send-money API at the real paths, as strict as the real one and never
kinder (developers.intasend.com and github.com/IntaSend/documentation: "Send Money", "PSD2 and
Digital Keys", "Send Money Status", "Send money events", "Errors References").

- `POST /api/v1/send-money/initiate/` (Bearer secret key): an M-Pesa B2C batch of transactions
  {name, account 2547..., amount, narrative}, refused field by field as IntaSend refuses them
  (amounts below the minimum or above the account's limit, a number that is no Safaricom line, a
  device that is not registered, ...). The answer is the new batch with every documented field:
  `tracking_id`, `nonce`, `status` "Preview and approve" (`status_code` BP101), the
  transactions, `charge_estimate`, `total_amount_estimate`, `created_at`, ...
- `POST /api/v1/send-money/approve/`: that answer sent back with its nonce, or, when API devices
  are registered, the hex RSA PKCS#1 v1.5 SHA-256 signature of the nonce by the device that
  initiated it. A wrong or missing signature, a nonce that is not the batch's, transactions that
  are not the batch's and an unknown tracking id are refused; approving twice changes nothing.
- `POST /api/v1/send-money/status/` with `tracking_id` (in the body, or the query as one page
  says): the batch as it stands.

After approval the batch moves on by itself, a step at a time: "Confirming balance" (BP104; the
wallet must hold the amounts and charges, else "Failed Processing", BF105), "Sending payment"
(BP109, transactions TP102), "Completed" (BC100, each transaction "Successful" TS100 with its
M-Pesa receipt, or "Failed" TF106 with M-Pesa's reason). Every status change, "Preview and
approve" included, is POSTed as a send-money event to the webhook set on the dashboard (and to
the batch's `callback_url` if it gave one), with the dashboard's challenge. Refusals come in the
shape the current errors page documents (`{"type": "client_error", "errors": [{"code", "detail",
"attr"}]}`), or, with `legacy_errors`, the older pages' (`{"detail": ...}`, and `{"details": ...}`
for send-money refusals). Fault switches (`IntasendFaults`) make it misbehave the ways a provider
does."""

import json
import secrets
import sqlite3
import string
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox import daraja_checks as check
from sandbox.config import IntasendAccount
from sandbox.daraja import B2C_RESULTS, PROCESSED, customer_name, receipt_number
from sandbox.deliver import Later
from sandbox.http import LostAnswer, json_response, parse_json
from sandbox.router import HANDLED, Sandbox, Switches

INITIATE = "/api/v1/send-money/initiate/"
APPROVE = "/api/v1/send-money/approve/"
STATUS = "/api/v1/send-money/status/"
PROVIDERS = {"MPESA-B2C", "MPESA-B2B", "INTASEND", "PESALINK", "AIRTIME"}

# (status words, status code) of a batch, and of its transactions
NEW = ("Preview and approve", "BP101")  # as the initiate answer shows a new batch
WAITING = ("Preview and approve", "BP103")  # "Batch/request waiting approval"
CONFIRMING = ("Confirming balance", "BP104")
SENDING = ("Sending payment", "BP109")
COMPLETED = ("Completed", "BC100")
FAILED = ("Failed Processing", "BF105")  # "Failed checking float balance": ended early
PENDING = ("Pending", "TP101")
PROCESSING = ("Processing", "TP102")
PAID = ("Successful", "TS100")
UNPAID = ("Failed", "TF106")
NOT_SENT = ("Failed", "TF103")  # "Failed to initiate or process transaction"
SHORT_OF_FLOAT = "Insufficient wallet balance to cover the amounts and charges."
# What M-Pesa says when `fail_later` fails a transaction (Business To Customer result 2040).
FAILED_LATER = B2C_RESULTS[2040]

SCHEMA = """
create table if not exists intasend_batches (
    tracking_id text primary key, file_id text not null, nonce text not null,
    device_id text not null,  -- JSON: as the initiate gave it, null without one
    requires_approval text not null, callback_url text not null, status text not null,
    status_code text not null, approved integer not null default 0, created_at text not null,
    updated_at text not null
);
create table if not exists intasend_transactions (
    transaction_id text primary key, tracking_id text not null, position integer not null,
    request_reference_id text not null, name text not null, account text not null,
    amount integer not null, charge integer not null, narrative text,
    status text not null, status_code text not null, status_description text not null,
    provider_reference text not null default '', provider_account_name text not null default '',
    fails integer not null default 0,  -- M-Pesa will refuse it (the fail_later switch)
    created_at text not null, updated_at text not null
);
create index if not exists intasend_transactions_batch
    on intasend_transactions (tracking_id, position);
create table if not exists intasend_wallet (
    wallet_id text primary key, balance integer not null, updated_at text not null
);
"""
TABLES = ["intasend_batches", "intasend_transactions", "intasend_wallet"]


@dataclass
class IntasendFaults:
    """Switches: counters apply to that many next requests (or transactions), the others until
    turned off."""

    fail_requests: int = 0  # answer the next requests 503 before doing anything
    rate_limit: int = 0  # answer the next requests 429 with Retry-After
    retry_after: int = 30  # seconds, in those 429s
    reject: int = 0  # refuse the next initiates outright (400: insufficient balance)
    lose_answers: int = 0  # carry out the next API requests, then never answer them
    lose_approvals: int = 0  # carry out the next approvals, then never answer them
    fail_later: int = 0  # the next transactions sent are refused by M-Pesa (TF106)
    callback_copies: int = 1  # 0: post no events, 2: every event twice
    hold_callbacks: bool = False  # keep events until release-held (only a status query tells)
    legacy_errors: bool = False  # refusals in the older pages' shapes ({"detail"}, {"details"})
    status_codes: bool = True  # False: answers and events with status words only, as some
    # pages show them
    auth_status: int = 401  # a wrong key's status: 401 (the status table) or 403 (the example)


def now() -> datetime:
    return datetime.now().astimezone()


def stamp(at: datetime | None = None) -> str:
    """IntaSend's times: ISO 8601 with microseconds and the offset."""
    return (at or now()).isoformat(timespec="microseconds")


def short_id(length: int = 7) -> str:
    """Like IntaSend's file and transaction ids (`0VZ4MOK`)."""
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def new_nonce() -> str:
    """Like the documented `1aiw02`."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))


def charge(amount: int) -> int:
    """IntaSend's charge for one M-Pesa B2C transfer, in KES (illustrative, not its tariff)."""
    for ceiling, fee in ((100, 10), (1_000, 15), (10_000, 50), (50_000, 80)):
        if amount <= ceiling:
            return fee
    return 100


def money(kes: int) -> str:
    return f"{kes:.2f}"


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("an API device's key must be an RSA public key")
    return key


def signature_valid(key: rsa.RSAPublicKey, signed_hex: object, nonce: str) -> bool:
    """The approval's nonce: hex of the RSA PKCS#1 v1.5 SHA-256 signature of the batch's."""
    if not isinstance(signed_hex, str):
        return False
    try:
        key.verify(bytes.fromhex(signed_hex), nonce.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):
        return False
    return True


class Refusal(Exception):
    """A request IntaSend refuses: its status and errors ({code, detail, attr})."""

    def __init__(self, status: int, errors: list[dict[str, Any]], legacy_key: str = "detail"):
        super().__init__(errors[0]["detail"])
        self.status, self.errors, self.legacy_key = status, errors, legacy_key


def problem(code: str, detail: str, attr: str | None = None) -> dict[str, Any]:
    return {"code": code, "detail": detail, "attr": attr}


def refused(status: int, code: str, detail: str, attr: str | None = None, **kwargs: str) -> Refusal:
    return Refusal(status, [problem(code, detail, attr)], **kwargs)


class Intasend:
    name = "intasend"

    def __init__(self, account: IntasendAccount) -> None:
        self.account = account
        self.faults = IntasendFaults()
        self.switches = Switches(self.faults)
        self.controls = {
            "webhook": self._webhook_control,
            "device": self._device_control,
            "wallet": self._wallet_control,
        }
        self.routes = {INITIATE: self._initiate, APPROVE: self._approve, STATUS: self._status}
        self.reset_dashboard()

    def attach(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.deliveries = sandbox.deliveries
        self.store.add_schema(SCHEMA)
        self.deliveries.take_steps_with(self.name, self._step)
        self._open_wallet()

    def serves(self, path: str) -> bool:
        return path.startswith("/api/v1/")

    def reset(self) -> None:
        with self.store.write() as db:
            for table in TABLES:
                db.execute(f"delete from {table}")  # noqa: S608 - our own table names
        self.faults.__init__()
        self.reset_dashboard()
        self._open_wallet()

    def reset_dashboard(self) -> None:
        """The webhook and API devices as the configuration sets them."""
        self.webhook_url = self.account.webhook_url
        self.challenge = self.account.challenge
        self.devices = {device_id: load_public_key(pem) for device_id, pem in self.account.devices}

    def _open_wallet(self) -> None:
        """The account's one wallet, opened once: it survives restarts with its balance."""
        with self.store.write() as db:
            if db.execute("select 1 from intasend_wallet").fetchone() is None:
                db.execute(
                    "insert into intasend_wallet values (?, ?, ?)",
                    (short_id(), self.account.opening_balance, stamp()),
                )

    # --- the door -----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = self.routes.get(request.url.path)
        if self.switches.take("fail_requests"):
            return httpx.Response(503, text="Service Unavailable")
        try:
            self._authenticate(request.headers.get("authorization", ""))
            if self.switches.take("rate_limit"):
                wait = self.faults.retry_after
                message = f"Request was throttled. Expected available in {wait} seconds."
                response = self._refusal(refused(429, "throttled", message))
                response.headers["Retry-After"] = str(wait)
                return response
            if route is None:
                raise refused(404, "not_found", "Not found.")
            if request.method != "POST":
                raise refused(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
            payload = self._payload(request)
            request.extensions[HANDLED] = True
            response = route(payload)
        except Refusal as refusal:
            response = self._refusal(refusal)
        if request.extensions.get(HANDLED) and (
            self.switches.take("lose_answers")
            or (request.url.path == APPROVE and self.switches.take("lose_approvals"))
        ):
            raise LostAnswer
        return response

    def _authenticate(self, header: str) -> None:
        scheme, _, key = header.partition(" ")
        if not header:
            raise refused(401, "not_authenticated", "Authentication credentials were not provided.")
        if scheme != "Bearer" or not secrets.compare_digest(
            key.encode(), self.account.secret_key.encode()
        ):
            raise refused(self.faults.auth_status, "authentication_failed", "Invalid api token")

    @staticmethod
    def _payload(request: httpx.Request) -> dict[str, Any]:
        try:
            payload = parse_json(request)
        except ValueError as exc:
            raise refused(400, "parse_error", f"JSON parse error - {exc}") from None
        if not isinstance(payload, dict):
            kind = type(payload).__name__
            raise refused(
                400,
                "invalid",
                f"Invalid data. Expected a dictionary, but got {kind}.",
                "non_field_errors",
            )
        tracking_id = request.url.params.get("tracking_id")
        if tracking_id and "tracking_id" not in payload:  # one page puts it in the query
            payload["tracking_id"] = tracking_id
        return payload

    def _refusal(self, refusal: Refusal) -> httpx.Response:
        if self.faults.legacy_errors:
            body: dict[str, Any] = {refusal.legacy_key: refusal.errors[0]["detail"]}
        else:
            kind = "client_error" if refusal.status < 500 else "server_error"
            body = {"type": kind, "errors": refusal.errors}
        return json_response(refusal.status, body)

    # --- initiate -----------------------------------------------------------------------------

    def _initiate(self, p: dict[str, Any]) -> httpx.Response:
        items = self._check_initiate(p)
        if self.switches.take("reject"):
            raise refused(
                400,
                "invalid",
                "Insufficient balance to complete this request",
                legacy_key="details",
            )
        approval = str(p.get("requires_approval") or "YES")
        device_id = p.get("device_id")
        at = stamp()
        tracking_id = str(uuid.uuid4())
        with self.store.write() as db:
            file_id = short_id()
            db.execute(
                "insert into intasend_batches (tracking_id, file_id, nonce, device_id,"
                " requires_approval, callback_url, status, status_code, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tracking_id,
                    file_id,
                    new_nonce(),
                    json.dumps(device_id),
                    approval,
                    str(p.get("callback_url") or ""),
                    *WAITING,
                    at,
                    at,
                ),
            )
            for position, (name, account, amount, narrative) in enumerate(items):
                db.execute(
                    "insert into intasend_transactions (transaction_id, tracking_id, position,"
                    " request_reference_id, name, account, amount, charge, narrative, status,"
                    " status_code, status_description, fails, created_at, updated_at)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)",
                    (
                        short_id(),
                        tracking_id,
                        position,
                        str(uuid.uuid4()),
                        name,
                        account,
                        amount,
                        charge(amount),
                        narrative,
                        *PENDING,
                        0,
                        at,
                        at,
                    ),
                )
            if approval == "NO":  # no approval asked for: it goes at once
                later = self._approved(db, tracking_id, Later())
            else:
                later = Later(self._events(db, tracking_id))
            answer = {
                **self.batch(db, tracking_id),
                "nonce": self._batch_row(db, tracking_id)["nonce"],
                "device_id": device_id,
            }
        self.deliveries.after_commit(later)
        if self.faults.status_codes and approval != "NO":
            answer["status_code"] = NEW[1]  # as the documented answer shows a new batch
        return json_response(200, answer)

    def _check_initiate(self, p: dict[str, Any]) -> list[tuple[str, str, int, str | None]]:
        """The transactions of an initiate IntaSend would take, or every reason it would not."""
        problems: list[dict[str, Any]] = []
        provider = p.get("provider")
        if provider is None:
            problems.append(problem("required", "This field is required.", "provider"))
        elif provider not in PROVIDERS:
            detail = f'"{provider}" is not a valid choice.'
            problems.append(problem("invalid_choice", detail, "provider"))
        elif provider != "MPESA-B2C":
            detail = f"{provider} is not played by the sandbox: only MPESA-B2C"
            problems.append(problem("invalid", detail, "provider"))
        if p.get("currency") != "KES":
            detail = (
                "M-Pesa B2C sends KES only." if p.get("currency") else "This field is required."
            )
            problems.append(
                problem("invalid" if p.get("currency") else "required", detail, "currency")
            )
        if p.get("requires_approval", "YES") not in {"YES", "NO", None}:
            detail = f'"{p["requires_approval"]}" is not a valid choice.'
            problems.append(problem("invalid_choice", detail, "requires_approval"))
        url = p.get("callback_url")
        if url is not None and not (
            isinstance(url, str)
            and urlsplit(url).scheme in {"http", "https"}
            and urlsplit(url).netloc
        ):
            problems.append(problem("invalid", "Enter a valid URL.", "callback_url"))
        items = self._check_transactions(p.get("transactions"), problems)
        if problems:
            raise Refusal(400, problems, legacy_key="details")
        device_id = p.get("device_id")
        if self.devices and device_id in (None, ""):
            raise refused(400, "required", "This field is required.", "device_id")
        if device_id not in (None, "") and str(device_id) not in self.devices:
            # The send-money page's own sample refusal.
            raise refused(400, "invalid", "Device id not found", "device_id", legacy_key="details")
        return items

    def _check_transactions(
        self, items: object, problems: list[dict[str, Any]]
    ) -> list[tuple[str, str, int, str | None]]:
        if not isinstance(items, list) or not items:
            detail = "This list may not be empty." if items == [] else "Expected a list of items."
            problems.append(problem("invalid", detail, "transactions"))
            return []
        checked = []
        for n, item in enumerate(items):
            at = f"transactions.{n}"
            if not isinstance(item, dict):
                problems.append(problem("invalid", "Expected a dictionary of items.", at))
                continue
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                code = "blank" if isinstance(name, str) else "required"
                detail = (
                    "This field may not be blank." if code == "blank" else "This field is required."
                )
                problems.append(problem(code, detail, f"{at}.name"))
            account = check.msisdn(item.get("account"))
            if account is None:
                detail = "Beneficiary phone number must be in the format 2547xxxxxxxx."
                problems.append(problem("invalid", detail, f"{at}.account"))
            whole = check.whole_amount(item.get("amount"))  # 1500, "1500", 1500.0 as DRF takes
            if whole is None:
                problems.append(problem("invalid", "A valid integer is required.", f"{at}.amount"))
            elif whole < self.account.minimum:
                detail = f"Ensure this value is greater than or equal to {self.account.minimum}."
                problems.append(problem("min_value", detail, f"{at}.amount"))
            elif whole > self.account.maximum:
                detail = f"Ensure this value is less than or equal to {self.account.maximum}."
                problems.append(problem("max_value", detail, f"{at}.amount"))
            narrative = item.get("narrative")
            if narrative is not None and not (isinstance(narrative, str) and len(narrative) <= 100):
                detail = "Ensure this field has no more than 100 characters."
                problems.append(problem("max_length", detail, f"{at}.narrative"))
            if isinstance(name, str) and account and whole is not None:
                checked.append((name, account, whole, narrative))
        return checked

    # --- approve ------------------------------------------------------------------------------

    def _approve(self, p: dict[str, Any]) -> httpx.Response:
        tracking_id = str(p.get("tracking_id") or "")
        with self.store.write() as db:
            batch = self._batch_row(db, tracking_id)
            if batch is None:
                raise refused(404, "not_found", "Not found.")
            self._check_approval(db, batch, p)
            later = Later()
            if batch["status_code"] == WAITING[1]:
                later = self._approved(db, tracking_id, later)
            # Approving a batch approved, finished or failed already changes nothing.
            answer = self.batch(db, tracking_id)
        self.deliveries.after_commit(later)
        return json_response(200, answer)

    def _check_approval(
        self, db: sqlite3.Connection, batch: sqlite3.Row, p: dict[str, Any]
    ) -> None:
        nonce = p.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise refused(400, "required", "This field is required.", "nonce")
        device_id = json.loads(batch["device_id"])
        if device_id not in (None, ""):
            given = p.get("device_id", device_id)
            if str(given) != str(device_id):
                detail = "The approval must come from the device that initiated the request."
                raise refused(400, "invalid", detail, "device_id")
            key = self.devices.get(str(device_id))
            if key is None:  # removed from the dashboard since
                raise refused(
                    400, "invalid", "Device id not found", "device_id", legacy_key="details"
                )
            if not signature_valid(key, nonce, batch["nonce"]):
                raise refused(400, "invalid", "Nonce signature verification failed.", "nonce")
        elif not secrets.compare_digest(nonce.encode(), batch["nonce"].encode()):
            raise refused(400, "invalid", "Invalid nonce.", "nonce")
        sent = p.get("transactions")
        if sent is not None:
            ours = [
                (row["account"], row["amount"])
                for row in db.execute(
                    "select account, amount from intasend_transactions where tracking_id = ?"
                    " order by position",
                    (batch["tracking_id"],),
                )
            ]
            try:
                theirs = [
                    (check.msisdn(t.get("account")), check.whole_amount(t.get("amount")))
                    for t in sent
                ]
            except AttributeError:
                theirs = None
            if theirs != ours:
                detail = "The transactions are not those of the batch."
                raise refused(400, "invalid", detail, "transactions")

    def _approved(self, db: sqlite3.Connection, tracking_id: str, later: Later) -> Later:
        db.execute("update intasend_batches set approved = 1 where tracking_id = ?", (tracking_id,))
        return self._move(db, tracking_id, CONFIRMING, later, next_step="check-balance")

    # --- status -------------------------------------------------------------------------------

    def _status(self, p: dict[str, Any]) -> httpx.Response:
        tracking_id = p.get("tracking_id")
        if not tracking_id:
            raise refused(400, "required", "This field is required.", "tracking_id")
        with self.store.connect() as db:
            if self._batch_row(db, str(tracking_id)) is None:
                raise refused(404, "not_found", "Not found.")
            return json_response(200, self.batch(db, str(tracking_id)))

    # --- the batch moving on ------------------------------------------------------------------

    def _move(
        self,
        db: sqlite3.Connection,
        tracking_id: str,
        state: tuple[str, str],
        later: Later,
        *,
        next_step: str = "",
    ) -> Later:
        """The batch reaches `state`: its event goes out, and the next step is taken later."""
        db.execute(
            "update intasend_batches set status = ?, status_code = ?, updated_at = ?"
            " where tracking_id = ?",
            (*state, stamp(), tracking_id),
        )
        later.deliveries += self._events(db, tracking_id)
        if next_step:
            later.steps.append(
                self.deliveries.add_step(
                    db,
                    provider=self.name,
                    action=next_step,
                    payload={"tracking_id": tracking_id, "from": state[1]},
                )
            )
        return later

    def _step(self, db: sqlite3.Connection, action: str, payload: dict[str, Any]) -> Later:
        tracking_id = payload["tracking_id"]
        batch = self._batch_row(db, tracking_id)
        if batch is None or batch["status_code"] != payload["from"]:
            return Later()  # taken already, or forgotten (a reset)
        items = db.execute(
            "select * from intasend_transactions where tracking_id = ? order by position",
            (tracking_id,),
        ).fetchall()
        at = stamp()
        if action == "check-balance":
            total = sum(row["amount"] + row["charge"] for row in items)
            wallet = db.execute("select * from intasend_wallet").fetchone()
            if wallet["balance"] < total:
                self._items(db, tracking_id, NOT_SENT, SHORT_OF_FLOAT, at)
                return self._move(db, tracking_id, FAILED, Later())
            db.execute(
                "update intasend_wallet set balance = balance - ?, updated_at = ?", (total, at)
            )
            for row in items:  # what M-Pesa will decide, one switch per transaction
                if self.switches.take("fail_later"):
                    db.execute(
                        "update intasend_transactions set fails = 1 where transaction_id = ?",
                        (row["transaction_id"],),
                    )
            self._items(db, tracking_id, PROCESSING, "", at)
            return self._move(db, tracking_id, SENDING, Later(), next_step="pay")
        if action == "pay":
            for row in items:
                if row["fails"]:
                    refund = row["amount"] + row["charge"]
                    db.execute(
                        "update intasend_wallet set balance = balance + ?, updated_at = ?",
                        (refund, at),
                    )
                    self._item(db, row["transaction_id"], UNPAID, FAILED_LATER, at)
                else:
                    first, _, last = customer_name(row["account"])
                    db.execute(
                        "update intasend_transactions set provider_reference = ?,"
                        " provider_account_name = ? where transaction_id = ?",
                        (
                            receipt_number(),
                            f" {first.title()} {last.title()}",
                            row["transaction_id"],
                        ),
                    )
                    self._item(db, row["transaction_id"], PAID, PROCESSED, at)
            return self._move(db, tracking_id, COMPLETED, Later())
        raise ValueError(f"IntaSend takes no step {action!r}")

    @staticmethod
    def _items(
        db: sqlite3.Connection, tracking_id: str, state: tuple[str, str], why: str, at: str
    ) -> None:
        db.execute(
            "update intasend_transactions set status = ?, status_code = ?,"
            " status_description = ?, updated_at = ? where tracking_id = ?",
            (*state, why, at, tracking_id),
        )

    @staticmethod
    def _item(
        db: sqlite3.Connection, transaction_id: str, state: tuple[str, str], why: str, at: str
    ) -> None:
        db.execute(
            "update intasend_transactions set status = ?, status_code = ?,"
            " status_description = ?, updated_at = ? where transaction_id = ?",
            (*state, why, at, transaction_id),
        )

    def _events(self, db: sqlite3.Connection, tracking_id: str) -> list[int]:
        """The send-money event of the batch as it now stands, for the dashboard's webhook (and
        the batch's own callback_url), as many copies as the switch says."""
        event = {**self.batch(db, tracking_id), "challenge": self.challenge}
        urls = [self.webhook_url, self._batch_row(db, tracking_id)["callback_url"]]
        return [
            self.deliveries.add(
                db,
                provider=self.name,
                kind="send-money-event",
                url=url,
                body=event,
                held=self.faults.hold_callbacks,
            )
            for url in urls
            if url
            for _ in range(max(self.faults.callback_copies, 0))
        ]

    # --- the batch as IntaSend shows it -------------------------------------------------------

    @staticmethod
    def _batch_row(db: sqlite3.Connection, tracking_id: str) -> sqlite3.Row | None:
        return db.execute(
            "select * from intasend_batches where tracking_id = ?", (tracking_id,)
        ).fetchone()

    def batch(self, db: sqlite3.Connection, tracking_id: str) -> dict[str, Any]:
        """The batch with every field the send-money events page documents (its 2025 sample),
        which the status answer shares; without status codes when the switch says so."""
        row = self._batch_row(db, tracking_id)
        items = db.execute(
            "select * from intasend_transactions where tracking_id = ? order by position",
            (tracking_id,),
        ).fetchall()
        wallet = db.execute("select * from intasend_wallet").fetchone()
        codes = self.faults.status_codes
        paid = [i for i in items if i["status_code"] == PAID[1]]
        failed = [i for i in items if i["status_code"] in {UNPAID[1], NOT_SENT[1]}]
        transactions = []
        for item in items:
            receipt = item["provider_reference"]
            transactions.append(
                {
                    "transaction_id": item["transaction_id"],
                    "status": item["status"],
                    **({"status_code": item["status_code"]} if codes else {}),
                    "status_description": item["status_description"],
                    "request_reference_id": item["request_reference_id"],
                    "provider": "MPESA-B2C",
                    "bank_code": None,
                    "name": item["name"],
                    "account": item["account"],
                    "account_type": None,
                    "account_reference": None,
                    "provider_reference": receipt or None,
                    "mno_reference": receipt,  # the status page's name for it
                    "provider_account_name": item["provider_account_name"] or None,
                    "amount": money(item["amount"]),
                    "charge": money(item["charge"]),
                    "narrative": item["narrative"],
                    "file_id": row["file_id"],
                    "idempotency_key": None,
                    "currency": "KES",
                    "created_at": item["created_at"],
                    "updated_at": item["updated_at"],
                }
            )
        return {
            "file_id": row["file_id"],
            "tracking_id": tracking_id,
            "batch_reference": None,
            "status": row["status"],
            **({"status_code": row["status_code"]} if codes else {}),
            "transactions": transactions,
            "actual_charges": money(sum(i["charge"] for i in paid)),
            "paid_amount": money(sum(i["amount"] for i in paid)),
            "failed_amount": float(sum(i["amount"] for i in failed)),
            "wallet": {
                "wallet_id": wallet["wallet_id"],
                "label": "default",
                "can_disburse": True,
                "currency": "KES",
                "wallet_type": "SETTLEMENT",
                "current_balance": money(wallet["balance"]),
                "available_balance": money(wallet["balance"]),
                "updated_at": wallet["updated_at"],
            },
            "charge_estimate": money(sum(i["charge"] for i in items)),
            "total_amount_estimate": money(sum(i["amount"] + i["charge"] for i in items)),
            "total_amount": money(sum(i["amount"] for i in items)),
            "transactions_count": len(items),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    # --- the dashboard (control API) ----------------------------------------------------------

    def _webhook_control(self, body: dict[str, Any]) -> tuple[int, object]:
        """POST /_sandbox/intasend/webhook {"url", "challenge"}: the dashboard's webhook."""
        url, challenge = body.get("url", self.webhook_url), body.get("challenge", self.challenge)
        if not isinstance(url, str) or not isinstance(challenge, str):
            raise ValueError("give the webhook's url and challenge as strings")
        self.webhook_url, self.challenge = url, challenge
        return 200, {"url": url, "challenge_set": bool(challenge)}

    def _device_control(self, body: dict[str, Any]) -> tuple[int, object]:
        """POST /_sandbox/intasend/device {"device_id", "public_key": PEM or null}: an API
        device added (or removed, with null)."""
        device_id, pem = body.get("device_id"), body.get("public_key")
        if device_id in (None, ""):
            raise ValueError("give the device_id")
        if pem is None:
            self.devices.pop(str(device_id), None)
        else:
            try:
                self.devices[str(device_id)] = load_public_key(str(pem))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"public_key: {exc}") from None
        return 200, {"devices": sorted(self.devices)}

    def _wallet_control(self, body: dict[str, Any]) -> tuple[int, object]:
        """POST /_sandbox/intasend/wallet {"balance": KES}: the wallet's balance set."""
        balance = check.whole_amount(body.get("balance"))
        if balance is None:
            raise ValueError("give the balance in whole shillings")
        with self.store.write() as db:
            db.execute("update intasend_wallet set balance = ?, updated_at = ?", (balance, stamp()))
        return 200, {"balance": balance}

    # --- for tests and humans -----------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        """The API requests that reached a handler (authenticated, readable), in order."""
        return [
            (seen["path"], json.loads(seen["body"]))
            for seen in self.sandbox.requests_seen(self.name)
            if seen["handled"]
        ]

    def sent(self, path: str) -> list[dict[str, Any]]:
        return [body for at, body in self.requests if at == path]

    def status_of(self, tracking_id: str) -> dict[str, Any]:
        with self.store.connect() as db:
            return self.batch(db, tracking_id)

    def events(self) -> list[dict[str, Any]]:
        """The events posted (or held), oldest first."""
        return [
            d["body"] for d in reversed(self.deliveries.recent(1000)) if d["provider"] == self.name
        ]

    def balance(self) -> int:
        return self.store.one("select balance from intasend_wallet")["balance"]
