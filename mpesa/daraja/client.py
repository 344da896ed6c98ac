"""A client for Safaricom's Daraja API: OAuth, STK push and query, C2B URL registration,
reversals, B2C payments and Transaction Status. One OAuth token is shared by every process
through the cache: Daraja invalidates the previous token when a new one is issued, so exactly one
holder refreshes it, shortly before its 3599 seconds run out. A token Daraja refuses sooner is
renewed once and the call sent again: refused at the door, nothing was done. Consumer keys it
refuses are a configuration error, remembered for a minute so that requests fail fast instead of
asking Daraja's OAuth again and again."""

import base64
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NoReturn
from zoneinfo import ZoneInfo

import httpx
from django.core.cache import cache

from kazi.unavailable import Unavailable, temporary

log = logging.getLogger(__name__)
NAIROBI = ZoneInfo("Africa/Nairobi")
TOKEN_KEY = "daraja:token"
LOCK_KEY = "daraja:token:refreshing"
REFUSED_KEY = "daraja:credentials:refused"  # {"code", "at"} of the last refusal, until a success
REFRESH_MARGIN = 120  # seconds before expiry at which the token is replaced
CREDENTIALS_RETRY_AFTER = 60  # seconds refused credentials are taken as still wrong
# "Invalid Access Token" as Daraja's pages number it: 404.001.03 (M-Pesa Express, Reversal),
# 400.003.01 (C2B, Transaction Status), 401.002.01 (Account Balance).
INVALID_TOKEN_CODES = {"404.001.03", "400.003.01", "401.002.01"}
BASE_URLS = {
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
}


class DarajaError(Exception):
    """Daraja refused the request: it was not carried out."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class DarajaUnavailable(Unavailable):
    """Daraja could not take the request now (timeout, connection, 408, 429, 5xx, an access
    token refused twice): try again later; whether an earlier attempt was carried out is
    unknown until queried."""


class DarajaCredentialsRefused(DarajaUnavailable):
    """Daraja's OAuth refused our consumer key and secret (400.008.01; 400.008.02 without a
    grant type): nothing can be sent until MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET are
    fixed."""

    def __init__(self, code: str) -> None:
        super().__init__(f"credentials refused ({code})", retry_after=CREDENTIALS_RETRY_AFTER)
        self.code = code


def credentials_state() -> str:
    """What we last learnt of our Daraja credentials, for the health check (asks nobody)."""
    if refused := cache.get(REFUSED_KEY):
        return f"error: credentials refused ({refused['code']})"
    return "ok" if cache.get(TOKEN_KEY) else "untested"


def _raise_if_refused_lately() -> None:
    refused = cache.get(REFUSED_KEY)
    if refused and time.time() - refused["at"] < CREDENTIALS_RETRY_AFTER:
        raise DarajaCredentialsRefused(refused["code"])


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """Daraja's errorCode and errorMessage ({"requestId", "errorCode", "errorMessage"})."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return (
        str(body.get("errorCode") or f"HTTP {response.status_code}"),
        str(body.get("errorMessage") or response.text[:200]),
    )


def _token_refused(response: httpx.Response) -> bool:
    """Daraja says "Invalid Access Token" (401, or 404/400 with its code, as its APIs differ)."""
    if response.status_code == 401:
        return True
    code, message = _error_of(response)
    return code in INVALID_TOKEN_CODES or "invalid access token" in message.lower()


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


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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
            _raise_if_refused_lately()
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
        """Ask Daraja for a token (the caller holds the lock)."""
        if token := cache.get(TOKEN_KEY):
            return token  # refreshed by the process that held the lock before us
        _raise_if_refused_lately()
        response = self._send(
            "GET",
            "/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(self.config.consumer_key, self.config.consumer_secret),
        )
        if response.status_code >= 400:
            self._credentials_refused(response)
        try:
            body = response.json()
            token, expires_in = str(body["access_token"]), int(body.get("expires_in", 3599))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DarajaUnavailable("/oauth/v1/generate: unreadable answer") from None
        cache.delete(REFUSED_KEY)
        cache.set(TOKEN_KEY, token, timeout=max(expires_in - REFRESH_MARGIN, 1))
        return token

    def _credentials_refused(self, response: httpx.Response) -> NoReturn:
        code = _error_of(response)[0]
        if cache.get(REFUSED_KEY) is None:  # said once, not at every request that follows
            log.error(
                "Daraja (%s) refused our consumer key and secret (%s): check "
                "MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET",
                self.config.base_url,
                code,
            )
        cache.set(REFUSED_KEY, {"code": code, "at": time.time()}, timeout=None)
        raise DarajaCredentialsRefused(code)

    def _renewed(self, refused: str) -> str:
        """A fresh token in place of one Daraja refused before its time (another holder of our
        keys asked for a token, or Daraja forgot it). If another process renewed it already,
        its token is used rather than replaced."""
        if cache.get(TOKEN_KEY) == refused:
            cache.delete(TOKEN_KEY)
        return self.token()

    # --- requests ----------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """The answer, unless Daraja could not take the request now (DarajaUnavailable)."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DarajaUnavailable(f"{path}: {type(exc).__name__}") from None
        if temporary(response.status_code):
            raise DarajaUnavailable.answered(path, response)
        return response

    def _post(self, path: str, payload: dict) -> dict:
        token = self.token()
        response = self._send("POST", path, json=payload, headers=_bearer(token))
        if response.status_code >= 400 and _token_refused(response):
            # Refused at the door, so nothing was done: send it once more with a new token.
            response = self._send("POST", path, json=payload, headers=_bearer(self._renewed(token)))
            if response.status_code >= 400 and _token_refused(response):
                raise DarajaUnavailable(f"{path}: a renewed access token was refused too")
        if response.status_code >= 400:
            raise DarajaError(*_error_of(response))
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise DarajaUnavailable(f"{path}: unreadable answer")
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
