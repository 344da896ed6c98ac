import base64
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

STK = "/mpesa/stkpush/v1/processrequest"
STK_QUERY = "/mpesa/stkpushquery/v1/query"
REGISTER = "/mpesa/c2b/v2/registerurl"
B2C = "/mpesa/b2c/v3/paymentrequest"
STATUS = "/mpesa/transactionstatus/v1/query"
REVERSAL = "/mpesa/reversal/v1/request"
OUR = "https://api.kazitrust.co.ke/api/callbacks"  # a URL Daraja takes, even in production


class Caller:
    """Any client of Daraja's API (not ours): plain httpx, with a token when asked."""

    def __init__(self, transport: httpx.BaseTransport, settings) -> None:
        self.http = httpx.Client(transport=transport, base_url="http://127.0.0.1:8002")
        self.settings = settings
        self._token = ""

    def token(self) -> str:
        answer = self.http.get(
            "/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(self.settings.MPESA_CONSUMER_KEY, self.settings.MPESA_CONSUMER_SECRET),
        )
        assert answer.status_code == 200, answer.text
        self._token = answer.json()["access_token"]
        return self._token

    def post(self, path: str, body: dict, token: str | None = None) -> httpx.Response:
        token = token if token is not None else (self._token or self.token())
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

    def stk(self, **changes: object) -> dict:
        stamp = datetime.now(ZoneInfo("Africa/Nairobi")).strftime("%Y%m%d%H%M%S")
        code = self.settings.MPESA_SHORTCODE
        password = f"{code}{self.settings.MPESA_PASSKEY}{stamp}".encode()
        return {
            "BusinessShortCode": int(code),  # as Safaricom's own sample: a number
            "Password": base64.b64encode(password).decode(),
            "Timestamp": stamp,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": 1500,
            "PartyA": 254712345678,
            "PartyB": int(code),
            "PhoneNumber": 254712345678,
            "CallBackURL": f"{OUR}/stk/",
            "AccountReference": "7KQ2M9XD",
            "TransactionDesc": "Kazi escrow",
            **changes,
        }

    def b2c(self, **changes: object) -> dict:
        return {
            "OriginatorConversationID": "PAYOUT_7KQ2M9XD",
            "InitiatorName": self.settings.MPESA_INITIATOR_NAME,
            "SecurityCredential": self.settings.MPESA_SECURITY_CREDENTIAL,
            "CommandID": "BusinessPayment",
            "Amount": 1500,
            "PartyA": int(self.settings.MPESA_B2C_SHORTCODE),
            "PartyB": 254712345678,
            "Remarks": "Kazi Trust payout",
            "QueueTimeOutURL": f"{OUR}/b2c/timeout/",
            "ResultURL": f"{OUR}/b2c/result/",
            "Occassion": "PAYOUT_7KQ2M9XD",
            **changes,
        }

    def status(self, **changes: object) -> dict:
        return {
            "Initiator": self.settings.MPESA_INITIATOR_NAME,
            "SecurityCredential": self.settings.MPESA_SECURITY_CREDENTIAL,
            "CommandID": "TransactionStatusQuery",
            "TransactionID": "",
            "OriginalConversationID": "PAYOUT_7KQ2M9XD",
            "PartyA": self.settings.MPESA_B2C_SHORTCODE,
            "IdentifierType": "4",
            "ResultURL": f"{OUR}/b2c/status/",
            "QueueTimeOutURL": f"{OUR}/b2c/timeout/",
            "Remarks": "reconciliation",
            "Occasion": "",
            **changes,
        }

    def reversal(self, trans_id: str, **changes: object) -> dict:
        return {
            "Initiator": self.settings.MPESA_INITIATOR_NAME,
            "SecurityCredential": self.settings.MPESA_SECURITY_CREDENTIAL,
            "CommandID": "TransactionReversal",
            "TransactionID": trans_id,
            "Amount": "300",
            "ReceiverParty": self.settings.MPESA_SHORTCODE,
            "RecieverIdentifierType": "11",
            "ResultURL": f"{OUR}/reversal/result/",
            "QueueTimeOutURL": f"{OUR}/reversal/timeout/",
            "Remarks": "Payment reversal",
            **changes,
        }


@pytest.fixture
def caller(sandbox, settings) -> Caller:
    return Caller(sandbox, settings)


def refused(answer: httpx.Response, status: int, code: str, message: str) -> bool:
    body = answer.json()
    assert set(body) == {"requestId", "errorCode", "errorMessage"}, body
    assert (answer.status_code, body["errorCode"], body["errorMessage"]) == (status, code, message)
    return True


def sent_to(sandbox, url: str) -> list[dict]:
    """The bodies the sandbox posted (or holds) for `url`, oldest first."""
    return [d["body"] for d in reversed(sandbox.deliveries.recent(500)) if d["url"] == url]
