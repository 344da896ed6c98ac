"""A client for Safaricom's Daraja API: OAuth, STK push and query, C2B URL registration,
reversals, B2C payments and Transaction Status. One OAuth token is shared by every process
through the cache: Daraja invalidates the previous token when a new one is issued, so exactly one
holder refreshes it, shortly before its 3599 seconds run out."""

import base64
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from django.core.cache import cache

NAIROBI = ZoneInfo("Africa/Nairobi")
TOKEN_KEY = "daraja:token"
LOCK_KEY = "daraja:token:refreshing"
REFRESH_MARGIN = 120  # seconds before expiry at which the token is replaced
BASE_URLS = {
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
}


class DarajaError(Exception):
    """Daraja answered with an error: the request was not accepted."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class DarajaUnavailable(Exception):
    """No answer (timeout, connection, 5xx): the outcome is unknown until queried."""


@dataclass(frozen=True)
class DarajaConfig:
    base_url: str
    consumer_key: str
    consumer_secret: str
    shortcode: str
    passkey: str
    initiator_name: str
    security_credential: str
    timeout: float = 10.0
    b2c_shortcode: str = ""  # the shortcode B2C payouts are paid from; default `shortcode`


def timestamp(now: datetime | None = None) -> str:
    return (now or datetime.now(NAIROBI)).astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def stk_password(shortcode: str, passkey: str, stamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode()


class DarajaClient:
    def __init__(self, config: DarajaConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.http = httpx.Client(
            base_url=config.base_url, timeout=config.timeout, transport=transport
        )

    # --- OAuth -------------------------------------------------------------------------------

    def token(self) -> str:
        token = cache.get(TOKEN_KEY)
        if token:
            return token
        for _ in range(50):
            if cache.add(LOCK_KEY, "1", timeout=30):
                try:
                    return self._refresh_token()
                finally:
                    cache.delete(LOCK_KEY)
            time.sleep(0.1)  # another process is refreshing: use its token
            token = cache.get(TOKEN_KEY)
            if token:
                return token
        raise DarajaUnavailable("could not obtain an OAuth token")

    def _refresh_token(self) -> str:
        response = self._send(
            "GET",
            "/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(self.config.consumer_key, self.config.consumer_secret),
        )
        body = response.json()
        expires_in = int(body.get("expires_in", 3599))
        cache.set(TOKEN_KEY, body["access_token"], timeout=max(expires_in - REFRESH_MARGIN, 1))
        return body["access_token"]

    # --- requests ----------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DarajaUnavailable(f"{path}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise DarajaUnavailable(f"{path}: HTTP {response.status_code}")
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise DarajaError(
                str(body.get("errorCode", response.status_code)),
                str(body.get("errorMessage", response.text[:200])),
            )
        return response

    def _post(self, path: str, payload: dict) -> dict:
        response = self._send(
            "POST", path, json=payload, headers={"Authorization": f"Bearer {self.token()}"}
        )
        body = response.json()
        if str(body.get("ResponseCode", "0")) != "0":
            raise DarajaError(str(body["ResponseCode"]), str(body.get("ResponseDescription")))
        return body

    def stk_push(
        self,
        *,
        msisdn: str,
        amount: Decimal,
        account_reference: str,
        description: str,
        callback_url: str,
    ) -> dict:
        stamp = timestamp()
        return self._post(
            "/mpesa/stkpush/v1/processrequest",
            {
                "BusinessShortCode": self.config.shortcode,
                "Password": stk_password(self.config.shortcode, self.config.passkey, stamp),
                "Timestamp": stamp,
                "TransactionType": "CustomerPayBillOnline",
                "Amount": str(int(amount)),
                "PartyA": msisdn,
                "PartyB": self.config.shortcode,
                "PhoneNumber": msisdn,
                "CallBackURL": callback_url,
                "AccountReference": account_reference[:12],
                "TransactionDesc": description[:13],
            },
        )

    def stk_query(self, *, checkout_request_id: str) -> dict:
        stamp = timestamp()
        return self._post(
            "/mpesa/stkpushquery/v1/query",
            {
                "BusinessShortCode": self.config.shortcode,
                "Password": stk_password(self.config.shortcode, self.config.passkey, stamp),
                "Timestamp": stamp,
                "CheckoutRequestID": checkout_request_id,
            },
        )

    def register_c2b_urls(
        self, *, confirmation_url: str, validation_url: str, response_type: str
    ) -> dict:
        return self._post(
            "/mpesa/c2b/v2/registerurl",
            {
                "ShortCode": self.config.shortcode,
                "ResponseType": response_type,
                "ConfirmationURL": confirmation_url,
                "ValidationURL": validation_url,
            },
        )

    def reversal(
        self, *, trans_id: str, amount: Decimal, result_url: str, timeout_url: str, remarks: str
    ) -> dict:
        return self._post(
            "/mpesa/reversal/v1/request",
            {
                "Initiator": self.config.initiator_name,
                "SecurityCredential": self.config.security_credential,
                "CommandID": "TransactionReversal",
                "TransactionID": trans_id,
                "Amount": str(int(amount)) if amount == int(amount) else f"{amount:.2f}",
                "ReceiverParty": self.config.shortcode,
                "RecieverIdentifierType": "11",  # Daraja's spelling
                "ResultURL": result_url,
                "QueueTimeOutURL": timeout_url,
                "Remarks": remarks[:100],
                "Occasion": "",
            },
        )

    def b2c_payment(
        self,
        *,
        originator_conversation_id: str,
        msisdn: str,
        amount: int,
        remarks: str,
        occasion: str,
        result_url: str,
        timeout_url: str,
    ) -> dict:
        """B2C Payment Request v3. M-Pesa refuses a repeated OriginatorConversationID, which
        makes it the request's idempotency key; the outcome comes to `result_url`."""
        return self._post(
            "/mpesa/b2c/v3/paymentrequest",
            {
                "OriginatorConversationID": originator_conversation_id,
                "InitiatorName": self.config.initiator_name,
                "SecurityCredential": self.config.security_credential,
                "CommandID": "BusinessPayment",
                "Amount": str(amount),
                "PartyA": self.config.b2c_shortcode or self.config.shortcode,
                "PartyB": msisdn,
                "Remarks": remarks[:100],
                "QueueTimeOutURL": timeout_url,
                "ResultURL": result_url,
                "Occassion": occasion[:100],  # Daraja's spelling for B2C v3
            },
        )

    def transaction_status(
        self,
        *,
        result_url: str,
        timeout_url: str,
        trans_id: str = "",
        originator_conversation_id: str = "",
        occasion: str = "",
    ) -> dict:
        """Ask for a transaction's status, by its receipt or, when there is none yet, by the
        OriginatorConversationID it was requested under (then asked of the B2C shortcode); the
        answer comes to `result_url`, with `occasion` echoed back."""
        party = self.config.shortcode
        if originator_conversation_id:
            party = self.config.b2c_shortcode or party
        return self._post(
            "/mpesa/transactionstatus/v1/query",
            {
                "Initiator": self.config.initiator_name,
                "SecurityCredential": self.config.security_credential,
                "CommandID": "TransactionStatusQuery",
                "TransactionID": trans_id,
                "OriginalConversationID": originator_conversation_id,
                "PartyA": party,
                "IdentifierType": "4",
                "ResultURL": result_url,
                "QueueTimeOutURL": timeout_url,
                "Remarks": "Kazi Trust reconciliation",
                "Occasion": occasion[:100],
            },
        )
