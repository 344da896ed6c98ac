"""A local Daraja for the embedded default and tests. It answers the calls our client makes with
Safaricom's wire formats (checking what Safaricom checks: the OAuth token, the STK password, the
initiator's credentials, amounts, phone numbers, field lengths, repeated B2C
OriginatorConversationIDs) and calls our callback URLs back with realistic payloads, once,
twice, late, never, or as a queue timeout. `pay_bill` plays a customer paying by Pay Bill."""

import hashlib
import itertools
import json
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx

from kazi.outbound import dispatch_on_commit
from kazi.sqlite_store import SqliteStore
from payments.daraja.client import stk_password, timestamp

SCHEMA = """
create table if not exists tokens (token text primary key);
create table if not exists stk (
    checkout_id text primary key, merchant_id text not null, msisdn text not null,
    amount integer not null, callback_url text not null, result_code integer not null,
    receipt text not null, held integer not null default 0
);
create table if not exists registrations (shortcode text primary key, body text not null);
create table if not exists reversals (
    conversation_id text primary key, trans_id text not null, body text not null
);
create table if not exists b2c (
    originator_id text primary key, conversation_id text not null, body text not null,
    result_code integer not null, receipt text not null, held integer not null default 0
);
"""
STK_RESULTS = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    17: "Rule limited.",
    1019: "Transaction has expired.",
    1025: "An error occurred while sending a push request.",
    1032: "Request cancelled by user.",
    1037: "DS timeout user cannot be reached.",
    2001: "The initiator information is invalid.",
}
B2C_RESULTS = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    2: "Declined due to limit rule: less than the minimum transaction amount.",
    3: "Declined due to limit rule: greater than the maximum transaction amount.",
    2040: "Credit Party customer type (Unregistered or Registered Customer) can't be supported by "
    "the service.",
}
B2C_MIN, B2C_MAX = 10, 250000
_counter = itertools.count(1)


@dataclass
class DarajaFaults:
    stk_result_code: int = 0  # what the customer does with the next prompts
    callback_copies: int = 1  # 0: never call back, 2: call back twice
    hold_callbacks: bool = False  # keep callbacks until `release_held()` (late delivery)
    fail_requests: int = 0  # answer the next requests with a 503
    lose_answers: int = 0  # carry out the next requests, then time out before answering
    b2c_result_code: int = 0  # what M-Pesa decides for the next B2C payments (B2C_RESULTS)
    b2c_queue_timeout: bool = False  # B2C requests time out in Daraja's queue


def _error(status: int, code: str, message: str) -> httpx.Response:
    body = {"requestId": secrets.token_hex(8), "errorCode": code, "errorMessage": message}
    return httpx.Response(status, json=body)


def receipt_number(seed: str) -> str:
    """An M-Pesa-looking receipt (10 upper-case letters and digits), stable for a seed."""
    digest = hashlib.sha256(seed.encode()).hexdigest().upper()
    return "T" + "".join(ch for ch in digest if ch.isalnum())[:9]


class LocalDaraja(httpx.BaseTransport):
    def __init__(
        self,
        path: Path,
        shortcode: str,
        passkey: str,
        initiator_name: str = "",
        security_credential: str = "",
    ) -> None:
        self.store = SqliteStore(path, SCHEMA)
        self.shortcode = shortcode
        self.passkey = passkey
        self.initiator = (initiator_name, security_credential)
        self.faults = DarajaFaults()
        self.requests: list[tuple[str, dict]] = []

    # --- transport ---------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.faults.fail_requests:
            self.faults.fail_requests -= 1
            return httpx.Response(503, text="Service Unavailable")
        if path == "/oauth/v1/generate":
            return self._oauth(request)
        if not self._authorised(request):
            return _error(401, "404.001.03", "Invalid Access Token")
        try:
            payload = json.loads(request.content)
        except ValueError:
            return _error(400, "400.002.02", "Bad Request - Invalid JSON")
        self.requests.append((path, payload))
        handler = {
            "/mpesa/stkpush/v1/processrequest": self._stk_push,
            "/mpesa/stkpushquery/v1/query": self._stk_query,
            "/mpesa/c2b/v2/registerurl": self._register,
            "/mpesa/reversal/v1/request": self._reversal,
            "/mpesa/transactionstatus/v1/query": self._transaction_status,
            "/mpesa/b2c/v3/paymentrequest": self._b2c,
        }.get(path)
        if handler is None:
            return _error(404, "404.001.01", "Resource not found")
        response = handler(payload)
        if self.faults.lose_answers:
            self.faults.lose_answers -= 1
            raise httpx.ReadTimeout("Daraja did not answer in time (injected fault)")
        return response

    def _oauth(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("authorization", "").startswith("Basic "):
            return _error(400, "400.008.01", "Invalid Authentication passed")
        token = secrets.token_urlsafe(24)
        with self.store.write() as db:
            db.execute("delete from tokens")  # a new token invalidates the old one
            db.execute("insert into tokens values (?)", (token,))
        return httpx.Response(200, json={"access_token": token, "expires_in": "3599"})

    def _authorised(self, request: httpx.Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.store.connect() as db:
            return (
                db.execute("select 1 from tokens where token = ?", (token,)).fetchone() is not None
            )

    def _check_password(self, payload: dict) -> httpx.Response | None:
        expected = stk_password(self.shortcode, self.passkey, str(payload.get("Timestamp")))
        if (
            payload.get("BusinessShortCode") != self.shortcode
            or payload.get("Password") != expected
        ):
            return _error(400, "400.002.02", "Bad Request - Invalid Password")
        return None

    # --- STK push ----------------------------------------------------------------------------

    def _stk_push(self, payload: dict) -> httpx.Response:
        if bad := self._check_password(payload):
            return bad
        amount = str(payload.get("Amount", ""))
        if not amount.isdigit() or int(amount) < 1:
            return _error(400, "400.002.02", "Bad Request - Invalid Amount")
        if not re.fullmatch(r"254[17]\d{8}", str(payload.get("PhoneNumber", ""))):
            return _error(400, "400.002.02", "Bad Request - Invalid PhoneNumber")
        if len(str(payload.get("AccountReference", ""))) > 12:
            return _error(400, "400.002.02", "Bad Request - Invalid AccountReference")
        if len(str(payload.get("TransactionDesc", ""))) > 13:
            return _error(400, "400.002.02", "Bad Request - Invalid TransactionDesc")
        n = next(_counter)
        checkout_id = f"ws_CO_{timestamp()}{n:06d}{secrets.randbelow(10**6):06d}"
        merchant_id = f"{secrets.randbelow(90000) + 10000}-{n}-1"
        with self.store.write() as db:
            db.execute(
                "insert into stk values (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    checkout_id,
                    merchant_id,
                    payload["PhoneNumber"],
                    int(amount),
                    payload["CallBackURL"],
                    self.faults.stk_result_code,
                    receipt_number(checkout_id),
                    int(self.faults.hold_callbacks),
                ),
            )
        if not self.faults.hold_callbacks:
            self._call_back(checkout_id, self.faults.callback_copies)
        message = "Success. Request accepted for processing"
        return httpx.Response(
            200,
            json={
                "MerchantRequestID": merchant_id,
                "CheckoutRequestID": checkout_id,
                "ResponseCode": "0",
                "ResponseDescription": message,
                "CustomerMessage": message,
            },
        )

    def stk_callback_payload(self, checkout_id: str) -> dict:
        with self.store.connect() as db:
            row = db.execute("select * from stk where checkout_id = ?", (checkout_id,)).fetchone()
        callback = {
            "MerchantRequestID": row["merchant_id"],
            "CheckoutRequestID": checkout_id,
            "ResultCode": row["result_code"],
            "ResultDesc": STK_RESULTS.get(row["result_code"], "Failed."),
        }
        if row["result_code"] == 0:
            callback["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": float(row["amount"])},
                    {"Name": "MpesaReceiptNumber", "Value": row["receipt"]},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": int(timestamp())},
                    {"Name": "PhoneNumber", "Value": int(row["msisdn"])},
                ]
            }
        return {"Body": {"stkCallback": callback}}

    def _call_back(self, checkout_id: str, copies: int) -> None:
        with self.store.connect() as db:
            url = db.execute(
                "select callback_url from stk where checkout_id = ?", (checkout_id,)
            ).fetchone()[0]
        for _ in range(copies):
            dispatch_on_commit(
                _deliver_task(), url, json.dumps(self.stk_callback_payload(checkout_id))
            )

    def release_held(self) -> int:
        """Deliver the callbacks that were held back (late delivery)."""
        with self.store.write() as db:
            held = [r[0] for r in db.execute("select checkout_id from stk where held = 1")]
            db.execute("update stk set held = 0")
            held_b2c = [r[0] for r in db.execute("select originator_id from b2c where held = 1")]
            db.execute("update b2c set held = 0")
        for checkout_id in held:
            self._call_back(checkout_id, max(self.faults.callback_copies, 1))
        for originator_id in held_b2c:
            self._b2c_call_back(originator_id, max(self.faults.callback_copies, 1))
        return len(held) + len(held_b2c)

    def _stk_query(self, payload: dict) -> httpx.Response:
        if bad := self._check_password(payload):
            return bad
        with self.store.connect() as db:
            row = db.execute(
                "select * from stk where checkout_id = ?", (payload.get("CheckoutRequestID"),)
            ).fetchone()
        if row is None:
            return _error(500, "500.001.1001", "The transaction is being processed")
        return httpx.Response(
            200,
            json={
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": row["merchant_id"],
                "CheckoutRequestID": row["checkout_id"],
                "ResultCode": str(row["result_code"]),
                "ResultDesc": STK_RESULTS.get(row["result_code"], "Failed."),
            },
        )

    def _transaction_status(self, payload: dict) -> httpx.Response:
        if bad := self._check_initiator(payload, "Initiator"):
            return bad
        trans_id = str(payload.get("TransactionID", ""))
        conversation_id = "AG_" + timestamp() + "_" + secrets.token_hex(6)
        if not trans_id and payload.get("OriginalConversationID"):
            result = self._b2c_status(str(payload["OriginalConversationID"]), conversation_id)
        else:
            with self.store.connect() as db:
                reversed_ = db.execute(
                    "select 1 from reversals where trans_id = ?", (trans_id,)
                ).fetchone()
            status = "Reversed" if reversed_ else "Completed"
            result = _status_result(trans_id, status, conversation_id)
        result["Result"]["ReferenceData"] = {
            "ReferenceItem": {"Key": "Occasion", "Value": str(payload.get("Occasion", ""))}
        }
        for _ in range(self.faults.callback_copies):
            dispatch_on_commit(_deliver_task(), payload["ResultURL"], json.dumps(result))
        return httpx.Response(
            200,
            json={
                "OriginatorConversationID": result["Result"]["OriginatorConversationID"],
                "ConversationID": conversation_id,
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            },
        )

    # --- C2B registration and reversals ------------------------------------------------------

    def _register(self, payload: dict) -> httpx.Response:
        if payload.get("ResponseType") not in {"Completed", "Cancelled"}:
            return _error(400, "400.002.02", "Bad Request - Invalid ResponseType")
        with self.store.write() as db:
            db.execute(
                "insert or replace into registrations values (?, ?)",
                (payload.get("ShortCode"), json.dumps(payload)),
            )
        return httpx.Response(
            200,
            json={
                "OriginatorCoversationID": secrets.token_hex(8),
                "ResponseCode": "0",
                "ResponseDescription": "Success",
            },
        )

    def registration(self) -> dict | None:
        with self.store.connect() as db:
            row = db.execute(
                "select body from registrations where shortcode = ?", (self.shortcode,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def _reversal(self, payload: dict) -> httpx.Response:
        conversation_id = "AG_" + timestamp() + "_" + secrets.token_hex(6)
        originator = secrets.token_hex(6)
        with self.store.write() as db:
            db.execute(
                "insert into reversals values (?, ?, ?)",
                (conversation_id, payload.get("TransactionID"), json.dumps(payload)),
            )
        result = {
            "Result": {
                "ResultType": 0,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "OriginatorConversationID": originator,
                "ConversationID": conversation_id,
                "TransactionID": receipt_number(conversation_id),
                "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL"}},
            }
        }
        for _ in range(self.faults.callback_copies):
            dispatch_on_commit(_deliver_task(), payload["ResultURL"], json.dumps(result))
        return httpx.Response(
            200,
            json={
                "OriginatorConversationID": originator,
                "ConversationID": conversation_id,
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            },
        )

    # --- B2C payments ------------------------------------------------------------------------

    def _check_initiator(self, payload: dict, name_field: str) -> httpx.Response | None:
        sent = (payload.get(name_field), payload.get("SecurityCredential"))
        if all(self.initiator) and sent != self.initiator:
            return _error(400, "400.002.02", "Bad Request - Invalid Initiator or credential")
        return None

    def _b2c(self, payload: dict) -> httpx.Response:
        if bad := self._check_initiator(payload, "InitiatorName"):
            return bad
        if bad := _b2c_invalid(payload):
            return _error(400, "400.002.02", f"Bad Request - Invalid {bad}")
        originator_id = str(payload["OriginatorConversationID"])
        amount = int(payload["Amount"])
        code = self.faults.b2c_result_code
        if amount < B2C_MIN or amount > B2C_MAX:
            code = 2 if amount < B2C_MIN else 3
        conversation_id = "AG_" + timestamp() + "_" + secrets.token_hex(8)
        held = self.faults.hold_callbacks or self.faults.b2c_queue_timeout
        with self.store.write() as db:
            if db.execute("select 1 from b2c where originator_id = ?", (originator_id,)).fetchone():
                return _error(500, "500.002.1001", "Duplicate OriginatorConversationID")
            db.execute(
                "insert into b2c values (?, ?, ?, ?, ?, ?)",
                (
                    originator_id,
                    conversation_id,
                    json.dumps(payload),
                    code,
                    receipt_number(conversation_id) if code == 0 else "",
                    int(held),
                ),
            )
        if self.faults.b2c_queue_timeout:
            for _ in range(max(self.faults.callback_copies, 1)):
                dispatch_on_commit(
                    _deliver_task(),
                    payload["QueueTimeOutURL"],
                    json.dumps(self.b2c_result(originator_id, timeout=True)),
                )
        elif not held:
            self._b2c_call_back(originator_id, self.faults.callback_copies)
        return httpx.Response(
            200,
            json={
                "ConversationID": conversation_id,
                "OriginatorConversationID": originator_id,
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            },
        )

    def _b2c_row(self, originator_id: str) -> dict | None:
        with self.store.connect() as db:
            return db.execute(
                "select * from b2c where originator_id = ?", (originator_id,)
            ).fetchone()

    def b2c_result(self, originator_id: str, timeout: bool = False) -> dict:
        """What M-Pesa posts to the ResultURL (or, when the request timed out in the queue, to
        the QueueTimeOutURL) for a B2C payment."""
        row = self._b2c_row(originator_id)
        request = json.loads(row["body"])
        code = 1037 if timeout else row["result_code"]
        result = {
            "ResultType": 0,
            "ResultCode": code,
            "ResultDesc": "The request timed out in the queue."
            if timeout
            else B2C_RESULTS.get(code, "Failed."),
            "OriginatorConversationID": originator_id,
            "ConversationID": row["conversation_id"],
            "TransactionID": row["receipt"] or receipt_number(originator_id),
            "ReferenceData": {
                "ReferenceItem": {"Key": "QueueTimeoutURL", "Value": request["QueueTimeOutURL"]}
            },
        }
        if code == 0:
            result["ResultParameters"] = {
                "ResultParameter": [
                    {"Key": "TransactionAmount", "Value": int(request["Amount"])},
                    {"Key": "TransactionReceipt", "Value": row["receipt"]},
                    {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                    {"Key": "ReceiverPartyPublicName", "Value": f"{request['PartyB']} - J Doe"},
                    {"Key": "TransactionCompletedDateTime", "Value": timestamp()},
                ]
            }
        return {"Result": result}

    def _b2c_call_back(self, originator_id: str, copies: int) -> None:
        url = json.loads(self._b2c_row(originator_id)["body"])["ResultURL"]
        for _ in range(copies):
            dispatch_on_commit(_deliver_task(), url, json.dumps(self.b2c_result(originator_id)))

    def _b2c_status(self, originator_id: str, conversation_id: str) -> dict:
        row = self._b2c_row(originator_id)
        if row is None:
            return {
                "Result": {
                    "ResultType": 0,
                    "ResultCode": 2001,
                    "ResultDesc": "No transaction was found for OriginalConversationID.",
                    "OriginatorConversationID": secrets.token_hex(6),
                    "ConversationID": conversation_id,
                    "TransactionID": "",
                }
            }
        status = "Completed" if row["result_code"] == 0 else "Failed"
        result = _status_result(row["receipt"], status, conversation_id)
        parameters = result["Result"]["ResultParameters"]["ResultParameter"]
        parameters.append({"Key": "Amount", "Value": int(json.loads(row["body"])["Amount"])})
        if status == "Failed":
            parameters.append({"Key": "ReasonType", "Value": B2C_RESULTS.get(row["result_code"])})
        return result


def _b2c_invalid(payload: dict) -> str | None:
    """The first field Safaricom would refuse in a B2C request, or None."""
    checks = {
        "OriginatorConversationID": lambda v: 0 < len(v) <= 64,
        "CommandID": lambda v: v in {"BusinessPayment", "SalaryPayment", "PromotionPayment"},
        "Amount": str.isdigit,  # whole shillings only
        "PartyA": lambda v: re.fullmatch(r"\d{5,7}", v),
        "PartyB": lambda v: re.fullmatch(r"254[17]\d{8}", v),
        "Remarks": lambda v: 2 <= len(v) <= 100,
        "QueueTimeOutURL": lambda v: v.startswith(("http://", "https://")),
        "ResultURL": lambda v: v.startswith(("http://", "https://")),
        "Occassion": lambda v: len(v) <= 100,
    }
    for field, valid in checks.items():
        if not valid(str(payload.get(field, ""))):
            return field
    return None


def _status_result(trans_id: str, status: str, conversation_id: str) -> dict:
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": secrets.token_hex(6),
            "ConversationID": conversation_id,
            "TransactionID": trans_id,
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "ReceiptNo", "Value": trans_id},
                    {"Key": "TransactionStatus", "Value": status},
                ]
            },
        }
    }


def _deliver_task() -> object:
    from payments.tasks import deliver_callback  # tasks import the clients

    return deliver_callback


def c2b_payload(
    *, shortcode: str, reference: str, amount: Decimal, trans_id: str | None = None
) -> dict:
    """What Safaricom sends to the validation and confirmation URLs for a Pay Bill payment."""
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id or receipt_number(secrets.token_hex(8)),
        "TransTime": timestamp(),
        "TransAmount": f"{amount:.2f}",
        "BusinessShortCode": shortcode,
        "BillRefNumber": reference,
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 126",  # Safaricom masks the payer's number
        "FirstName": "John",
    }


def pay_bill(http: httpx.Client, payload: dict, *, validate: bool = True) -> dict:
    """A customer pays by Pay Bill: validation first (if the payment is rejected there, M-Pesa
    cancels it), then confirmation. Returns what each step answered."""
    answers: dict = {}
    if validate:
        answers["validation"] = http.post("/api/callbacks/mpesa/validation/", json=payload).json()
        if str(answers["validation"].get("ResultCode")) != "0":
            return answers
    answers["confirmation"] = http.post("/api/callbacks/mpesa/deposit/", json=payload).json()
    return answers
