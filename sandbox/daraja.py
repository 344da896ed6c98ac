"""The local Daraja: Safaricom's API at its real paths, as strict as the real one and never kinder.

It refuses what Daraja refuses, with Daraja's codes and body shapes
(`{"requestId", "errorCode", "errorMessage"}`): wrong consumer key or secret (400.008.01), a
missing or wrong grant type (400.008.02), an expired, replaced or revoked token (401, 404.001.03),
an unreadable body (400.002.05), a field Daraja would not take (400.002.02 "Bad Request - Invalid
<Field>"), a wrong STK password (500.001.1001 "Wrong credentials"), a repeated B2C
OriginatorConversationID (500.002.1001), C2B URLs that break Daraja's rules. A wrong initiator is
accepted and then answered, as M-Pesa does, by a result with ResultCode 2001. Amounts, shortcodes
and phone numbers are taken as JSON numbers or strings.

It keeps M-Pesa's side of the books (accounts, transactions with receipts) so that Transaction
Status and Reversal answer from what happened, and it reports by POSTing to the URL registered
(C2B) or given (STK CallBackURL, ResultURL, QueueTimeOutURL): the documented payloads, every
documented field. An STK payment to the Pay Bill is also confirmed to the registered confirmation
URL, as Safaricom does. Fault switches (`DarajaFaults`) make it misbehave the ways the real one
does. Sources: developer.safaricom.co.ke, the API pages named on each handler."""

import base64
import hashlib
import json
import secrets
import sqlite3
import string
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from sandbox import daraja_checks as check
from sandbox.config import DarajaAccount
from sandbox.http import LostAnswer, json_response, parse_json
from sandbox.router import HANDLED, Sandbox, Switches

NAIROBI = ZoneInfo("Africa/Nairobi")
OAUTH = "/oauth/v1/generate"
TOKEN_SECONDS = 3599
MAX_TRANSACTION = 250_000  # KES, C2B and B2C
B2C_MINIMUM = 10
# What Safaricom's samples carry as the ReferenceItem of B2C and reversal results.
B2C_REFERENCE = "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"
REVERSAL_REFERENCE = "https://internalsandbox.safaricom.co.ke/mpesa/reversalresults/v1/submit"
PROCESSED = "The service request is processed successfully."
ACCEPTED = "Accept the service request successfully."

STK_RESULTS = {  # M-Pesa Express (STK push) result codes
    0: PROCESSED,
    1: "The balance is insufficient for the transaction.",
    3: "Declined due to limit rule: greater than the maximum transaction amount.",
    17: "Rule limited.",
    1019: "Transaction has expired.",
    1025: "An error occurred while sending a push request.",
    1032: "Request cancelled by user.",
    1037: "DS timeout user cannot be reached.",
    2001: "The initiator information is invalid.",
    2028: "The request is not permitted according to product assignment.",
}
B2C_RESULTS = {  # Business To Customer result codes
    0: PROCESSED,
    1: "The balance is insufficient for the transaction.",
    2: "Declined due to limit rule: less than the minimum transaction amount.",
    3: "Declined due to limit rule: greater than the maximum transaction amount.",
    2001: "The initiator information is invalid.",
    2028: "The request is not permitted according to product assignment.",
    2040: "Credit Party customer type (Unregistered or Registered Customer) can't be supported "
    "by the service.",
}
B2C_COMMANDS = {
    "BusinessPayment": "Business Payment to Customer via API",
    "SalaryPayment": "Salary Payment via API",
    "PromotionPayment": "Promotion Payment via API",
}
INVALID_INITIATOR = (2001, "The initiator information is invalid.")
UNKNOWN_TRANSACTION = ("R000002", "The OriginalTransactionID is invalid.")
ALREADY_REVERSED = ("R000001", "The transaction has already been reversed.")
FIRST_NAMES = ["WANJIKU", "OTIENO", "AKINYI", "KIPCHOGE", "MUTHONI", "OCHIENG", "NJERI", "KAMAU"]
LAST_NAMES = ["KAMAU", "ODHIAMBO", "WAFULA", "CHEBET", "MWANGI", "ONYANGO", "KARIUKI", "NJOROGE"]

SCHEMA = """
create table if not exists daraja_tokens (token text primary key, expires_at real not null);
create table if not exists daraja_registrations (
    shortcode text primary key, version integer not null, response_type text not null,
    confirmation_url text not null, validation_url text not null, registered_at real not null
);
create table if not exists daraja_accounts (  -- balances in cents
    shortcode text primary key, utility integer not null, working integer not null,
    charges integer not null
);
create table if not exists daraja_transactions (
    receipt text primary key, kind text not null,  -- c2b | b2c | reversal
    shortcode text not null, msisdn text not null, name text not null, amount integer not null,
    bill_ref text not null default '', originator_id text not null default '',
    conversation_id text not null default '', status text not null, reason_type text not null,
    charge integer not null default 0, initiated text not null, finalised text not null
);
create index if not exists daraja_transactions_originator on daraja_transactions (originator_id);
create table if not exists daraja_stk (
    checkout_id text primary key, merchant_id text not null, shortcode text not null,
    msisdn text not null, amount integer not null, account_ref text not null,
    result_code integer not null, receipt text not null, decided_at real not null,
    callback text not null
);
create table if not exists daraja_b2c (
    originator_id text primary key, conversation_id text not null, request text not null,
    result text not null
);
create table if not exists daraja_reversals (
    conversation_id text primary key, originator_id text not null, trans_id text not null,
    request text not null, result text not null
);
"""
TABLES = [
    "daraja_tokens",
    "daraja_registrations",
    "daraja_accounts",
    "daraja_transactions",
    "daraja_stk",
    "daraja_b2c",
    "daraja_reversals",
]


@dataclass
class DarajaFaults:
    """Switches: counters apply to that many next requests, the others until turned off."""

    fail_requests: int = 0  # answer the next requests (OAuth too) 503 before doing anything
    lose_answers: int = 0  # carry out the next API requests, then never answer them
    revoke_token: bool = False  # the current token is revoked before the next API request
    stk_result_code: int = 0  # what the customer does with the prompts (STK_RESULTS)
    b2c_reject: int = 0  # refuse the next B2C requests outright (400.002.02 Invalid PartyB)
    b2c_result_code: int = 0  # what M-Pesa decides for B2C payments (B2C_RESULTS)
    b2c_queue_timeout: bool = False  # B2C requests time out in the queue: QueueTimeOutURL
    callback_copies: int = 1  # 0: never call back, 2: every callback twice
    hold_callbacks: bool = False  # keep payment results (STK, C2B, B2C) until release-held;
    # Transaction Status and reversal results are never held: they are how one finds out
    external_validation: bool = True  # call the ValidationURL before completing a Pay Bill
    as_production: bool = False  # production's URL rules: HTTPS, public hosts, no testers


# --- Daraja's identifiers, times and answers -------------------------------------------------


def now() -> datetime:
    return datetime.now(NAIROBI)


def timestamp(at: datetime | None = None) -> str:
    return (at or now()).strftime("%Y%m%d%H%M%S")


def stk_password(shortcode: str, passkey: str, stamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode()


def _hex(n: int) -> str:
    return secrets.token_hex(n)[:n]


def request_id() -> str:
    """Like Safaricom's `1c5b-4ba8-815c-ac45c57a3db01469899`."""
    return f"{_hex(4)}-{_hex(4)}-{_hex(4)}-{_hex(12)}{secrets.randbelow(10**7):07d}"


def conversation_id() -> str:
    return f"AG_{now():%Y%m%d}_{secrets.token_hex(10)}"


def receipt_number(at: datetime | None = None) -> str:
    """An M-Pesa receipt: year, month and day letters, then seven characters (SG632NMUAB)."""
    at = at or now()
    day = str(at.day) if at.day < 10 else chr(ord("A") + at.day - 10)
    head = chr(ord("A") + (at.year - 2006) % 26) + chr(ord("A") + at.month - 1) + day
    alphabet = string.ascii_uppercase + string.digits
    return head + "".join(secrets.choice(alphabet) for _ in range(7))


def error(status: int, code: str, message: str) -> httpx.Response:
    return json_response(
        status, {"requestId": request_id(), "errorCode": code, "errorMessage": message}
    )


def invalid(field: str) -> httpx.Response:
    return error(400, "400.002.02", f"Bad Request - Invalid {field}")


def accepted(originator: str, conversation: str) -> httpx.Response:
    return json_response(
        200,
        {
            "OriginatorConversationID": originator,
            "ConversationID": conversation,
            "ResponseCode": "0",
            "ResponseDescription": ACCEPTED,
        },
    )


def customer_name(msisdn: str) -> tuple[str, str, str]:
    """The name M-Pesa has on record for a number: made up, the same every time."""
    seed = hashlib.sha256(msisdn.encode()).digest()
    return FIRST_NAMES[seed[0] % 8], FIRST_NAMES[seed[1] % 8], LAST_NAMES[seed[2] % 8]


def public_name(msisdn: str) -> str:
    first, middle, last = customer_name(msisdn)
    return f"{msisdn} - {first} {middle} {last}"


def masked(msisdn: str) -> str:
    return f"{msisdn[:4]} ***** {msisdn[-3:]}"


def kes(cents: int) -> float:
    return round(cents / 100, 2)


def b2c_charge(amount: int) -> int:
    """A B2C fee in cents (illustrative, in the shape of Safaricom's tariff)."""
    for ceiling, fee in ((100, 0), (1500, 500), (5000, 900), (20000, 1100)):
        if amount <= ceiling:
            return fee
    return 1300


class Daraja:
    name = "daraja"

    def __init__(
        self, account: DarajaAccount, *, pin_seconds: float = 0.0, as_production: bool = False
    ) -> None:
        self.account = account
        self.pin_seconds = pin_seconds  # how long a customer takes to answer a prompt
        self._as_production = as_production
        self.faults = DarajaFaults(as_production=as_production)
        self.switches = Switches(self.faults)
        self.controls = {"pay-bill": self._pay_bill_control}
        self.routes = {
            "/mpesa/stkpush/v1/processrequest": (self._stk_push, 1),
            "/mpesa/stkpushquery/v1/query": (self._stk_query, 1),
            "/mpesa/c2b/v1/registerurl": (self._register, 1),
            "/mpesa/c2b/v2/registerurl": (self._register, 2),
            "/mpesa/b2c/v1/paymentrequest": (self._b2c, 1),
            "/mpesa/b2c/v3/paymentrequest": (self._b2c, 3),
            "/mpesa/transactionstatus/v1/query": (self._transaction_status, 1),
            "/mpesa/reversal/v1/request": (self._reversal, 1),
        }

    def attach(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.deliveries = sandbox.deliveries
        self.store.add_schema(SCHEMA)
        self._open_accounts()

    def _open_accounts(self) -> None:
        with self.store.write() as db:
            float_cents = self.account.opening_float * 100
            db.execute(
                "insert or ignore into daraja_accounts values (?, ?, 0, 0)",
                (self.account.payout_shortcode, float_cents),
            )
            db.execute(
                "insert or ignore into daraja_accounts values (?, 0, 0, 0)",
                (self.account.shortcode,),
            )

    def serves(self, path: str) -> bool:
        return path.startswith(("/oauth/", "/mpesa/"))

    def reset(self) -> None:
        with self.store.write() as db:
            for table in TABLES:
                db.execute(f"delete from {table}")  # noqa: S608 - our own table names
        self.reset_faults()
        self._open_accounts()

    def reset_faults(self) -> None:
        self.faults.__init__(as_production=self._as_production)

    # --- the door: paths, OAuth, tokens ------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        route = self.routes.get(path)
        if path != OAUTH and route is None:
            return error(404, "404.001.01", "Resource not found")
        if self.switches.take("fail_requests"):
            return httpx.Response(503, text="Service Unavailable")
        if path == OAUTH:
            return self._oauth(request)
        if request.method != "POST":
            return error(405, "405.001", "Method Not Allowed")
        if self.faults.revoke_token:
            self.faults.revoke_token = False
            with self.store.write() as db:
                db.execute("delete from daraja_tokens")
        if not self._token_valid(request.headers.get("authorization", "")):
            return error(401, "404.001.03", "Invalid Access Token")
        try:
            payload = parse_json(request)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return error(400, "400.002.05", "Invalid Request Payload")
        request.extensions[HANDLED] = True
        handler, version = route
        response = handler(payload, version)
        if self.switches.take("lose_answers"):
            raise LostAnswer
        return response

    def _oauth(self, request: httpx.Request) -> httpx.Response:
        """Authorization: GET /oauth/v1/generate?grant_type=client_credentials, Basic auth with
        the app's consumer key and secret. Each new token invalidates the previous one."""
        if request.method != "GET":
            return error(405, "405.001", "Method Not Allowed")
        if request.url.params.get("grant_type") != "client_credentials":
            return error(400, "400.008.02", "Invalid grant type passed")
        expected = f"{self.account.consumer_key}:{self.account.consumer_secret}"
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        try:
            given = base64.b64decode(credentials, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            given = None
        if scheme.lower() != "basic" or not given or not secrets.compare_digest(given, expected):
            return error(400, "400.008.01", "Invalid Authentication passed")
        alphabet = string.ascii_letters + string.digits
        token = "".join(secrets.choice(alphabet) for _ in range(28))
        with self.store.write() as db:
            db.execute("delete from daraja_tokens")
            db.execute(
                "insert into daraja_tokens values (?, ?)", (token, time.time() + TOKEN_SECONDS)
            )
        return json_response(200, {"access_token": token, "expires_in": str(TOKEN_SECONDS)})

    def _token_valid(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return False
        row = self.store.one("select expires_at from daraja_tokens where token = ?", token)
        return row is not None and row["expires_at"] > time.time()

    def tokens(self) -> list[str]:
        return [row["token"] for row in self.store.all("select token from daraja_tokens")]

    # --- M-Pesa's books ----------------------------------------------------------------------

    def _balance(self, db: sqlite3.Connection, shortcode: str) -> sqlite3.Row:
        db.execute("insert or ignore into daraja_accounts values (?, 0, 0, 0)", (shortcode,))
        return db.execute(
            "select * from daraja_accounts where shortcode = ?", (shortcode,)
        ).fetchone()

    def _move(self, db: sqlite3.Connection, shortcode: str, utility: int, charges: int = 0) -> None:
        self._balance(db, shortcode)
        db.execute(
            "update daraja_accounts set utility = utility + ?, charges = charges + ? "
            "where shortcode = ?",
            (utility, charges, shortcode),
        )

    def _record(self, db: sqlite3.Connection, **values: object) -> None:
        values.setdefault("initiated", timestamp())
        values.setdefault("finalised", values["initiated"])
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        db.execute(
            f"insert into daraja_transactions ({columns}) values ({marks})",  # noqa: S608
            tuple(values.values()),
        )

    def transaction(self, receipt: str) -> dict[str, Any] | None:
        row = self.store.one("select * from daraja_transactions where receipt = ?", receipt)
        return dict(row) if row else None

    def _new_receipt(self, db: sqlite3.Connection) -> str:
        while True:
            receipt = receipt_number()
            taken = db.execute(
                "select 1 from daraja_transactions where receipt = ?", (receipt,)
            ).fetchone()
            if not taken:
                return receipt

    def _report(
        self, db: sqlite3.Connection, kind: str, url: str, body: object, *, hold: bool = False
    ) -> list[int]:
        """Record the callback(s) for `url`, as many copies as the switch says."""
        return [
            self.deliveries.add(db, provider=self.name, kind=kind, url=url, body=body, held=hold)
            for _ in range(max(self.faults.callback_copies, 0))
        ]

    def release_held(self) -> int:
        return self.deliveries.release_held(self.name)

    def deliver_pending(self) -> int:
        return self.deliveries.deliver_pending()

    # --- M-Pesa Express: STK push and query (MpesaExpressSimulate, MpesaExpressQuery) --------

    def _merchant(self, p: dict[str, Any]) -> tuple[str, httpx.Response | None]:
        shortcode = check.digits(p.get("BusinessShortCode"), 5, 7)
        if shortcode is None:
            return "", invalid("BusinessShortCode")
        if shortcode != self.account.shortcode:
            return "", error(500, "500.001.1001", "Merchant does not exist")
        stamp = p.get("Timestamp")
        if not (isinstance(stamp, str) and len(stamp) == 14 and stamp.isdigit()):
            return "", invalid("Timestamp")
        expected = stk_password(shortcode, self.account.passkey, stamp)
        if not secrets.compare_digest(str(p.get("Password", "")), expected):
            return "", error(500, "500.001.1001", "Wrong credentials")
        return shortcode, None

    def _stk_push(self, p: dict[str, Any], version: int) -> httpx.Response:
        shortcode, refused = self._merchant(p)
        if refused:
            return refused
        kind = p.get("TransactionType")
        if kind not in {"CustomerPayBillOnline", "CustomerBuyGoodsOnline"}:
            return invalid("TransactionType")
        amount = check.whole_amount(p.get("Amount"))
        if amount is None or amount < 1:
            return invalid("Amount")
        payer = check.msisdn(p.get("PartyA"))
        if payer is None:
            return invalid("PartyA")
        party_b = check.digits(p.get("PartyB"), 5, 7)
        if party_b is None:
            return invalid("PartyB")
        phone = check.msisdn(p.get("PhoneNumber"))
        if phone is None:
            return invalid("PhoneNumber")
        callback_url = p.get("CallBackURL")
        if check.url_problem(callback_url, production=self.faults.as_production):
            return invalid("CallBackURL")
        reference = check.text(p.get("AccountReference"), 1, 12)
        if reference is None:
            return invalid("AccountReference")
        if not check.optional_text(p.get("TransactionDesc"), 13):
            return invalid("TransactionDesc")

        code = self.faults.stk_result_code
        if kind == "CustomerPayBillOnline" and party_b != shortcode:
            code = 2028
        elif amount > MAX_TRANSACTION:
            code = 3
        at = now()
        merchant_id = request_id()
        hold = self.faults.hold_callbacks
        with self.store.write() as db:
            checkout_id = self._checkout_id(db, at, phone)
            receipt = self._new_receipt(db) if code == 0 else ""
            metadata = None
            if receipt:
                self._move(db, shortcode, amount * 100)
                self._record(
                    db,
                    receipt=receipt,
                    kind="c2b",
                    shortcode=shortcode,
                    msisdn=payer,
                    name=" ".join(customer_name(payer)),
                    amount=amount * 100,
                    bill_ref=reference,
                    originator_id=merchant_id,
                    conversation_id=checkout_id,
                    status="Completed",
                    reason_type="Pay Bill Online",
                    initiated=timestamp(at),
                )
                metadata = {
                    "Item": [
                        {"Name": "Amount", "Value": float(amount)},
                        {"Name": "MpesaReceiptNumber", "Value": receipt},
                        {"Name": "Balance"},
                        {"Name": "TransactionDate", "Value": int(timestamp(at))},
                        {"Name": "PhoneNumber", "Value": int(phone)},
                    ]
                }
            callback = {
                "MerchantRequestID": merchant_id,
                "CheckoutRequestID": checkout_id,
                "ResultCode": code,
                "ResultDesc": STK_RESULTS.get(code, "The transaction failed."),
            }
            if metadata:
                callback["CallbackMetadata"] = metadata
            body = {"Body": {"stkCallback": callback}}
            db.execute(
                "insert into daraja_stk values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    checkout_id,
                    merchant_id,
                    shortcode,
                    payer,
                    amount,
                    reference,
                    code,
                    receipt,
                    time.time() + self.pin_seconds,
                    json.dumps(body),
                ),
            )
            ids = self._report(db, "stk-callback", callback_url, body, hold=hold)
            registration = self._registration(db, shortcode)
            if receipt and registration and kind == "CustomerPayBillOnline":
                # Safaricom confirms a Pay Bill STK payment to the C2B confirmation URL too.
                confirmation = self._c2b_payload(
                    registration,
                    trans_id=receipt,
                    at=at,
                    amount=amount,
                    account=reference,
                    msisdn=payer,
                    balance=self._balance(db, shortcode)["utility"],
                )
                ids += self._report(
                    db,
                    "c2b-confirmation",
                    registration["confirmation_url"],
                    confirmation,
                    hold=hold,
                )
        self.deliveries.dispatch(ids)
        message = "Success. Request accepted for processing"
        return json_response(
            200,
            {
                "MerchantRequestID": merchant_id,
                "CheckoutRequestID": checkout_id,
                "ResponseCode": "0",
                "ResponseDescription": message,
                "CustomerMessage": message,
            },
        )

    @staticmethod
    def _checkout_id(db: sqlite3.Connection, at: datetime, phone: str) -> str:
        """Like `ws_CO_21072024125243250722943992`: time, milliseconds, the phone's tail."""
        while True:
            candidate = f"ws_CO_{at:%d%m%Y%H%M%S}{secrets.randbelow(1000):03d}{phone[-9:]}"
            if not db.execute(
                "select 1 from daraja_stk where checkout_id = ?", (candidate,)
            ).fetchone():
                return candidate

    def _stk_query(self, p: dict[str, Any], version: int) -> httpx.Response:
        _, refused = self._merchant(p)
        if refused:
            return refused
        checkout_id = p.get("CheckoutRequestID")
        row = None
        if isinstance(checkout_id, str):
            row = self.store.one("select * from daraja_stk where checkout_id = ?", checkout_id)
        if row is None:
            return invalid("CheckoutRequestID")
        if row["decided_at"] > time.time():  # the customer has not answered the prompt yet
            return error(500, "500.001.1001", "The transaction is being processed")
        return json_response(
            200,
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": row["merchant_id"],
                "CheckoutRequestID": row["checkout_id"],
                "ResultCode": str(row["result_code"]),
                "ResultDesc": STK_RESULTS.get(row["result_code"], "The transaction failed."),
            },
        )

    def stk_callback(self, checkout_id: str) -> dict[str, Any]:
        """The callback body M-Pesa posts (or posted) to the prompt's CallBackURL."""
        row = self.store.one("select callback from daraja_stk where checkout_id = ?", checkout_id)
        return json.loads(row["callback"])

    def stk_receipt(self, checkout_id: str) -> str:
        return self.store.one("select receipt from daraja_stk where checkout_id = ?", checkout_id)[
            "receipt"
        ]

    # --- C2B: Register URL (CustomerToBusinessRegisterURL) and Pay Bill payments -------------

    def _register(self, p: dict[str, Any], version: int) -> httpx.Response:
        shortcode = check.digits(p.get("ShortCode"), 5, 7)
        if shortcode is None or shortcode != self.account.shortcode:
            return invalid("ShortCode")
        if p.get("ResponseType") not in {"Completed", "Cancelled"}:  # sentence case, spelled so
            return invalid("ResponseType")
        production = self.faults.as_production
        for field in ("ConfirmationURL", "ValidationURL"):
            if check.register_url_problem(p.get(field), production=production):
                # Daraja documents no code for a refused URL; this is its generic field error.
                return invalid(field)
        if production and self.registration(shortcode):
            # "In the production environment, this is a one-time API call".
            return error(500, "500.003.1001", "Urls are already registered.")
        self.register(
            confirmation_url=p["ConfirmationURL"],
            validation_url=p["ValidationURL"],
            response_type=p["ResponseType"],
            version=version,
            shortcode=shortcode,
        )
        return json_response(
            200,
            {
                "OriginatorCoversationID": request_id(),  # Daraja's spelling
                "ResponseCode": "0",
                "ResponseDescription": "success",
            },
        )

    def register(
        self,
        *,
        confirmation_url: str,
        validation_url: str,
        response_type: str = "Completed",
        version: int = 2,
        shortcode: str = "",
    ) -> None:
        """Record C2B URLs as a registration would (tests seed the app's own this way)."""
        with self.store.write() as db:
            db.execute(
                "insert or replace into daraja_registrations values (?, ?, ?, ?, ?, ?)",
                (
                    shortcode or self.account.shortcode,
                    version,
                    response_type,
                    confirmation_url,
                    validation_url,
                    time.time(),
                ),
            )

    def registration(self, shortcode: str = "") -> dict[str, Any] | None:
        with self.store.connect() as db:
            row = self._registration(db, shortcode or self.account.shortcode)
        return dict(row) if row else None

    @staticmethod
    def _registration(db: sqlite3.Connection, shortcode: str) -> sqlite3.Row | None:
        return db.execute(
            "select * from daraja_registrations where shortcode = ?", (shortcode,)
        ).fetchone()

    def _c2b_payload(
        self,
        registration: sqlite3.Row,
        *,
        trans_id: str,
        at: datetime,
        amount: int,
        account: str,
        msisdn: str,
        balance: int | None,
        names: tuple[str, str, str] | None = None,
        third_party_id: str = "",
    ) -> dict[str, Any]:
        """What M-Pesa posts to the validation (no balance) and confirmation URLs: C2B v2 masks
        the payer's number, v1 sends its SHA-256."""
        first, middle, last = names or customer_name(msisdn)
        payer = (
            masked(msisdn)
            if registration["version"] >= 2
            else hashlib.sha256(msisdn.encode()).hexdigest()
        )
        return {
            "TransactionType": "Pay Bill",
            "TransID": trans_id,
            "TransTime": timestamp(at),
            "TransAmount": f"{amount}.00",
            "BusinessShortCode": registration["shortcode"],
            "BillRefNumber": account,
            "InvoiceNumber": "",
            "OrgAccountBalance": "" if balance is None else f"{kes(balance):.2f}",
            "ThirdPartyTransID": third_party_id,
            "MSISDN": payer,
            "FirstName": first,
            "MiddleName": middle,
            "LastName": last,
        }

    def pay_bill(
        self,
        account: str,
        amount: object,
        *,
        phone: str = "254708374149",
        first_name: str = "",
        trans_id: str = "",
        shortcode: str = "",
    ) -> dict[str, Any]:
        """A customer pays the Pay Bill from their phone. M-Pesa asks the registered validation
        URL first (when external validation is on): a refusal cancels the payment, and so does no
        answer when the registered ResponseType is Cancelled. Then it completes the payment and
        posts the confirmation. With no URLs registered it completes silently. Validation and
        confirmation are posted from this thread; what they answered is returned."""
        whole = check.whole_amount(amount)
        if whole is None or not 1 <= whole <= MAX_TRANSACTION:
            raise ValueError(f"M-Pesa takes whole shillings from 1 to {MAX_TRANSACTION:,}")
        payer = check.msisdn(phone)
        if payer is None:
            raise ValueError("phone must be a Safaricom number like 2547XXXXXXXX")
        shortcode = shortcode or self.account.shortcode
        if trans_id and self.transaction(trans_id):
            raise ValueError(f"M-Pesa receipt {trans_id} exists already")
        at = now()
        trans_id = trans_id or receipt_number(at)
        names = customer_name(payer)
        if first_name:
            names = (first_name.upper(), "", "")
        outcome: dict[str, Any] = {"TransID": trans_id, "amount": whole, "account": account}
        registration = self.registration(shortcode)
        third_party_id = ""
        if registration and self.faults.external_validation:
            with self.store.write() as db:
                payload = self._c2b_payload(
                    self._registration(db, shortcode),
                    trans_id=trans_id,
                    at=at,
                    amount=whole,
                    account=account,
                    msisdn=payer,
                    balance=None,
                    names=names,
                )
                (validation_id,) = [
                    self.deliveries.add(
                        db,
                        provider=self.name,
                        kind="c2b-validation",
                        url=registration["validation_url"],
                        body=payload,
                    )
                ]
            validation = self.deliveries.deliver_now(validation_id)
            outcome["validation"] = validation
            verdict = _validation_verdict(validation)
            if verdict is None:  # no usable answer: the registered default action decides
                verdict = registration["response_type"] == "Completed"
            elif isinstance(verdict, str):
                third_party_id, verdict = verdict, True
            if not verdict:
                outcome.update(completed=False, confirmation=None)
                return outcome
        with self.store.write() as db:
            self._move(db, shortcode, whole * 100)
            self._record(
                db,
                receipt=trans_id,
                kind="c2b",
                shortcode=shortcode,
                msisdn=payer,
                name=" ".join(n for n in names if n),
                amount=whole * 100,
                bill_ref=account,
                originator_id=request_id(),
                conversation_id=conversation_id(),
                status="Completed",
                reason_type="Pay Bill",
                initiated=timestamp(at),
            )
            ids: list[int] = []
            row = self._registration(db, shortcode)
            if row is not None:
                confirmation = self._c2b_payload(
                    row,
                    trans_id=trans_id,
                    at=at,
                    amount=whole,
                    account=account,
                    msisdn=payer,
                    balance=self._balance(db, shortcode)["utility"],
                    names=names,
                    third_party_id=third_party_id,
                )
                ids = self._report(
                    db,
                    "c2b-confirmation",
                    row["confirmation_url"],
                    confirmation,
                    hold=self.faults.hold_callbacks,
                )
        outcome["completed"] = True
        sent = [self.deliveries.deliver_now(i) for i in ids if not self.faults.hold_callbacks]
        outcome["confirmation"] = sent[0] if sent else None
        if row is None:
            outcome["note"] = f"no URLs are registered for {shortcode}: nobody was told"
        return outcome

    def _pay_bill_control(self, body: dict[str, Any]) -> tuple[int, object]:
        account = body.get("account", body.get("reference"))
        if not isinstance(account, str):
            raise ValueError("give the account number (BillRefNumber) as `account`")
        return 200, self.pay_bill(
            account,
            body.get("amount"),
            phone=str(body.get("phone") or "254708374149"),
            first_name=str(body.get("first_name") or ""),
            trans_id=str(body.get("trans_id") or ""),
            shortcode=str(body.get("shortcode") or ""),
        )

    # --- Business To Customer (BusinessToCustomer) -------------------------------------------

    def _initiator_valid(self, name: object, credential: object) -> bool:
        return (
            name == self.account.initiator_name
            and isinstance(credential, str)
            and (secrets.compare_digest(credential, self.account.security_credential))
        )

    def _b2c(self, p: dict[str, Any], version: int) -> httpx.Response:
        originator = p.get("OriginatorConversationID")
        if version >= 3 and check.text(originator, 1, 100) is None:
            return invalid("OriginatorConversationID")
        originator = originator if isinstance(originator, str) and originator else request_id()
        if check.text(p.get("InitiatorName"), 1, 100) is None:
            return invalid("InitiatorName")
        if check.text(p.get("SecurityCredential"), 1, 4096) is None:
            return invalid("SecurityCredential")
        command = p.get("CommandID")
        if command not in B2C_COMMANDS:
            return invalid("CommandID")
        amount = check.whole_amount(p.get("Amount"))
        if amount is None or amount < 1:
            return invalid("Amount")
        party_a = check.digits(p.get("PartyA"), 5, 7)
        if party_a is None:
            return invalid("PartyA")
        party_b = check.msisdn(p.get("PartyB"))
        if party_b is None:
            return invalid("PartyB")
        if check.text(p.get("Remarks"), 2, 100) is None:
            return invalid("Remarks")
        for field in ("QueueTimeOutURL", "ResultURL"):
            if check.url_problem(p.get(field), production=self.faults.as_production):
                return invalid(field)
        occasion = p.get("Occassion", p.get("Occasion"))  # v3 spells it Occassion
        if not check.optional_text(occasion, 100):
            return invalid("Occassion")
        if self.switches.take("b2c_reject"):
            return invalid("PartyB")

        at = now()
        conversation = conversation_id()
        with self.store.write() as db:
            if db.execute(
                "select 1 from daraja_b2c where originator_id = ?", (originator,)
            ).fetchone():
                return error(500, "500.002.1001", "Duplicate OriginatorConversationID.")
            charge = b2c_charge(amount)
            if not self._initiator_valid(p["InitiatorName"], p["SecurityCredential"]):
                code = INVALID_INITIATOR[0]
            elif party_a != self.account.payout_shortcode:
                code = 2028
            elif amount < B2C_MINIMUM:
                code = 2
            elif amount > MAX_TRANSACTION:
                code = 3
            elif self._balance(db, party_a)["utility"] < amount * 100 + charge:
                code = 1
            else:
                code = self.faults.b2c_result_code
            receipt = self._new_receipt(db)
            result: dict[str, Any] = {
                "ResultType": 0,
                "ResultCode": code,
                "ResultDesc": B2C_RESULTS.get(code, "The transaction failed."),
                "OriginatorConversationID": originator,
                "ConversationID": conversation,
                "TransactionID": receipt,
            }
            if code not in (INVALID_INITIATOR[0], 2028):  # otherwise nothing happened on M-Pesa
                self._record(
                    db,
                    receipt=receipt,
                    kind="b2c",
                    shortcode=party_a,
                    msisdn=party_b,
                    name=" ".join(customer_name(party_b)),
                    amount=amount * 100,
                    originator_id=originator,
                    conversation_id=conversation,
                    status="Completed" if code == 0 else "Failed",
                    reason_type=B2C_COMMANDS[command],
                    charge=charge if code == 0 else 0,
                    initiated=timestamp(at),
                )
            if code == 0:
                self._move(db, party_a, -amount * 100, -charge)
                balance = self._balance(db, party_a)
                result["ResultParameters"] = {
                    "ResultParameter": [
                        {"Key": "TransactionAmount", "Value": amount},
                        {"Key": "TransactionReceipt", "Value": receipt},
                        {"Key": "ReceiverPartyPublicName", "Value": public_name(party_b)},
                        {"Key": "TransactionCompletedDateTime", "Value": f"{at:%d.%m.%Y %H:%M:%S}"},
                        {
                            "Key": "B2CUtilityAccountAvailableFunds",
                            "Value": kes(balance["utility"]),
                        },
                        {
                            "Key": "B2CWorkingAccountAvailableFunds",
                            "Value": kes(balance["working"]),
                        },
                        {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                        {
                            "Key": "B2CChargesPaidAccountAvailableFunds",
                            "Value": kes(balance["charges"]),
                        },
                    ]
                }
            result["ReferenceData"] = {
                "ReferenceItem": {"Key": "QueueTimeoutURL", "Value": B2C_REFERENCE}
            }
            body = {"Result": result}
            db.execute(
                "insert into daraja_b2c values (?, ?, ?, ?)",
                (originator, conversation, json.dumps(p), json.dumps(body)),
            )
            if self.faults.b2c_queue_timeout:
                # Undocumented body: the request's identifiers, marked as timed out. The result
                # itself is held until released.
                notice = {
                    "Result": {
                        "ResultType": 0,
                        "ResultCode": 1037,
                        "ResultDesc": "The request timed out in the queue.",
                        "OriginatorConversationID": originator,
                        "ConversationID": conversation,
                        "TransactionID": "",
                        "ReferenceData": result["ReferenceData"],
                    }
                }
                ids = self._report(db, "b2c-timeout", p["QueueTimeOutURL"], notice)
                self.deliveries.add(
                    db,
                    provider=self.name,
                    kind="b2c-result",
                    url=p["ResultURL"],
                    body=body,
                    held=True,
                )
            else:
                ids = self._report(
                    db, "b2c-result", p["ResultURL"], body, hold=self.faults.hold_callbacks
                )
        self.deliveries.dispatch(ids)
        return json_response(
            200,
            {
                "ConversationID": conversation,
                "OriginatorConversationID": originator,
                "ResponseCode": "0",
                "ResponseDescription": ACCEPTED,
            },
        )

    def b2c_result(self, originator_id: str) -> dict[str, Any]:
        """The Result M-Pesa posts (or posted) to the B2C request's ResultURL."""
        row = self.store.one("select result from daraja_b2c where originator_id = ?", originator_id)
        return json.loads(row["result"])

    def b2c_count(self) -> int:
        return self.store.one("select count(*) as n from daraja_b2c")["n"]

    # --- Transaction Status (TransactionStatus) ----------------------------------------------

    def _transaction_status(self, p: dict[str, Any], version: int) -> httpx.Response:
        if check.text(p.get("Initiator"), 1, 100) is None:
            return invalid("Initiator")
        if check.text(p.get("SecurityCredential"), 1, 4096) is None:
            return invalid("SecurityCredential")
        if p.get("CommandID") != "TransactionStatusQuery":
            return invalid("CommandID")
        trans_id = p.get("TransactionID") or ""
        original = p.get("OriginalConversationID") or ""
        if not isinstance(trans_id, str) or not isinstance(original, str):
            return invalid("TransactionID")
        if not trans_id and not original:
            # It needs the receipt or the OriginalConversationID; an OriginatorConversationID
            # (the query's own kind of id) names nothing.
            return invalid("TransactionID")
        party_a = check.digits(p.get("PartyA"), 5, 12)
        if party_a is None:
            return invalid("PartyA")
        if check.digits(p.get("IdentifierType"), 1, 1) not in {"1", "2", "4"}:
            return invalid("IdentifierType")
        for field in ("ResultURL", "QueueTimeOutURL"):
            if check.url_problem(p.get(field), production=self.faults.as_production):
                return invalid(field)
        if not check.optional_text(p.get("Remarks"), 100):
            return invalid("Remarks")
        if not check.optional_text(p.get("Occasion"), 100):
            return invalid("Occasion")

        originator, conversation = request_id(), conversation_id()
        result: dict[str, Any] = {
            "ConversationID": conversation,
            "OriginatorConversationID": originator,
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion"}},  # no Value, as the sample
        }
        if not self._initiator_valid(p["Initiator"], p["SecurityCredential"]):
            code, description = INVALID_INITIATOR
            found = None
        else:
            column, key = ("receipt", trans_id) if trans_id else ("originator_id", original)
            found = self.store.one(
                f"select * from daraja_transactions where {column} = ? and shortcode = ?",  # noqa: S608
                key,
                party_a,
            )
            code, description = (0, PROCESSED) if found else UNKNOWN_TRANSACTION
        result.update(ResultCode=code, ResultDesc=description)
        if found:
            result["ResultParameters"] = {"ResultParameter": self._status_parameters(found)}
        result.update(ResultType=0, TransactionID=f"{found['receipt'][:3]}0000000" if found else "")
        with self.store.write() as db:
            ids = self._report(db, "status-result", p["ResultURL"], {"Result": result})
        self.deliveries.dispatch(ids)
        return accepted(originator, conversation)

    def _status_parameters(self, found: sqlite3.Row) -> list[dict[str, Any]]:
        organisation = f"{found['shortcode']} - {self.account.organisation}"
        customer = f"{found['msisdn']} - {found['name']}"
        incoming = found["kind"] == "c2b"
        amount = found["amount"] / 100
        values: list[tuple[str, object]] = [
            ("DebitPartyName", customer if incoming else organisation),
            ("CreditPartyName", organisation if incoming else customer),
            ("OriginatorConversationID", found["originator_id"]),
            ("InitiatedTime", found["initiated"]),
            ("DebitAccountType", "MMF Account For Customer" if incoming else "Utility Account"),
            (
                "DebitPartyCharges",
                f"Fee For B2C Payment|KES|{found['charge'] / 100:.2f}" if found["charge"] else "",
            ),
            ("TransactionReason", None),
            ("ReasonType", found["reason_type"]),
            ("TransactionStatus", found["status"]),
            ("FinalisedTime", found["finalised"]),
            ("Amount", f"{amount:.0f}" if amount == int(amount) else f"{amount:.2f}"),
            ("ConversationID", found["conversation_id"]),
            ("ReceiptNo", found["receipt"]),
        ]
        return [{"Key": k} if v is None else {"Key": k, "Value": v} for k, v in values]

    # --- Reversal (Reversal) -----------------------------------------------------------------

    def _reversal(self, p: dict[str, Any], version: int) -> httpx.Response:
        if check.text(p.get("Initiator"), 1, 100) is None:
            return invalid("Initiator")
        if check.text(p.get("SecurityCredential"), 1, 4096) is None:
            return invalid("SecurityCredential")
        if p.get("CommandID") != "TransactionReversal":
            return invalid("CommandID")
        trans_id = check.text(p.get("TransactionID"), 1, 20)
        if trans_id is None:
            return invalid("TransactionID")
        amount = check.whole_amount(p.get("Amount"))
        if amount is None or amount < 1:
            return invalid("Amount")
        receiver = check.digits(p.get("ReceiverParty"), 5, 7)
        if receiver is None:
            return invalid("ReceiverParty")
        if check.digits(p.get("RecieverIdentifierType"), 1, 2) != "11":  # Daraja's spelling
            return invalid("RecieverIdentifierType")
        for field in ("ResultURL", "QueueTimeOutURL"):
            if check.url_problem(p.get(field), production=self.faults.as_production):
                return invalid(field)
        if check.text(p.get("Remarks"), 2, 100) is None:
            return invalid("Remarks")
        if not check.optional_text(p.get("Occasion"), 100):
            return invalid("Occasion")

        originator, conversation = request_id(), conversation_id()
        at = now()
        with self.store.write() as db:
            original = db.execute(
                "select * from daraja_transactions where receipt = ?", (trans_id,)
            ).fetchone()
            parameters = None
            if not self._initiator_valid(p["Initiator"], p["SecurityCredential"]):
                code, description = INVALID_INITIATOR
            elif original is None or original["kind"] != "c2b" or original["shortcode"] != receiver:
                code, description = UNKNOWN_TRANSACTION
            elif original["status"] == "Reversed":
                code, description = ALREADY_REVERSED
            elif amount * 100 > original["amount"]:
                return invalid("Amount")
            elif self._balance(db, receiver)["utility"] < amount * 100:
                code, description = 1, B2C_RESULTS[1]
            else:
                code, description = 0, PROCESSED
            receipt = self._new_receipt(db) if code == 0 else f"{receipt_number(at)[:3]}0000000"
            if code == 0:
                self._move(db, receiver, -amount * 100)
                db.execute(
                    "update daraja_transactions set status = 'Reversed', finalised = ? "
                    "where receipt = ?",
                    (timestamp(at), trans_id),
                )
                self._record(
                    db,
                    receipt=receipt,
                    kind="reversal",
                    shortcode=receiver,
                    msisdn=original["msisdn"],
                    name=original["name"],
                    amount=amount * 100,
                    originator_id=originator,
                    conversation_id=conversation,
                    status="Completed",
                    reason_type="Reversal",
                    initiated=timestamp(at),
                )
                balance = kes(self._balance(db, receiver)["utility"])
                parameters = [
                    {
                        "Key": "DebitAccountBalance",
                        "Value": f"Utility Account|KES|{balance:.2f}|{balance:.2f}|0.00|0.00",
                    },
                    {"Key": "Amount", "Value": float(amount)},
                    {"Key": "TransCompletedTime", "Value": int(timestamp(at))},
                    {"Key": "OriginalTransactionID", "Value": trans_id},
                    {"Key": "Charge", "Value": 0.0},
                    {
                        "Key": "CreditPartyPublicName",
                        "Value": f"{original['msisdn']} - {original['name']}",
                    },
                    {
                        "Key": "DebitPartyPublicName",
                        "Value": f"{receiver} - {self.account.organisation}",
                    },
                ]
            result: dict[str, Any] = {
                "ResultType": 0,
                "ResultCode": code,
                "ResultDesc": description,
                "OriginatorConversationID": originator,
                "ConversationID": conversation,
                "TransactionID": receipt,
            }
            if parameters:
                result["ResultParameters"] = {"ResultParameter": parameters}
            result["ReferenceData"] = {
                "ReferenceItem": {"Key": "QueueTimeoutURL", "Value": REVERSAL_REFERENCE}
            }
            db.execute(
                "insert into daraja_reversals values (?, ?, ?, ?, ?)",
                (conversation, originator, trans_id, json.dumps(p), json.dumps({"Result": result})),
            )
            ids = self._report(db, "reversal-result", p["ResultURL"], {"Result": result})
        self.deliveries.dispatch(ids)
        return accepted(originator, conversation)

    # --- for tests and humans ----------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        """The API requests that reached a handler (authenticated, readable), in order:
        (path, body). OAuth, refused tokens and requests failed by a switch are not here."""
        return [
            (seen["path"], json.loads(seen["body"]))
            for seen in self.sandbox.requests_seen(self.name)
            if seen["handled"]
        ]

    def sent(self, path: str) -> list[dict[str, Any]]:
        return [body for at, body in self.requests if at == path]


def _validation_verdict(validation: dict[str, Any]) -> bool | str | None:
    """What a validation answer tells M-Pesa: True accept, a string accept with that
    ThirdPartyTransID, False reject, None no usable answer."""
    if validation["answer_status"] != 200:
        return None
    try:
        answer = json.loads(validation["answer"])
    except ValueError:
        return None
    if not isinstance(answer, dict) or "ResultCode" not in answer:
        return None
    if str(answer["ResultCode"]) != "0":
        return False
    return str(answer.get("ThirdPartyTransID") or "") or True
