"""A local Intersend: checks the API key and signatures like the real one, remembers every
reference (a repeated send pays nothing twice), answers status queries, and calls our callback
back, signed, once the transfer has settled."""

import hashlib
import json
import re
from pathlib import Path

import httpx

from kazi.outbound import dispatch_on_commit
from kazi.sqlite_store import SqliteStore
from payments.providers.intersend import signature_valid, signed_headers

SCHEMA = """
create table if not exists payouts (
    reference text primary key, request text not null, status text not null,
    transaction_id text not null
);
"""


class LocalIntersend(httpx.BaseTransport):
    def __init__(self, path: Path, api_key: str, api_secret: str, callback_url: str) -> None:
        self.store = SqliteStore(path, SCHEMA)
        self.api_key = api_key
        self.api_secret = api_secret
        self.callback_url = callback_url
        self.sends: list[dict] = []
        self.hold_callbacks = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = request.headers
        if headers.get("x-api-key") != self.api_key or not signature_valid(
            self.api_secret, headers.get("x-timestamp", ""), headers.get("x-signature", ""), body
        ):
            return httpx.Response(401, json={"error": "invalid API key or signature"})
        if request.method == "POST" and request.url.path == "/payouts/send":
            return self._send(json.loads(body))
        match = re.fullmatch(r"/payouts/([A-Z0-9_-]+)", request.url.path)
        if request.method == "GET" and match:
            return self._status(match.group(1))
        return httpx.Response(404, json={"error": "not found"})

    def _send(self, payload: dict) -> httpx.Response:
        self.sends.append(payload)
        if not re.fullmatch(r"2547\d{8}|2541\d{8}", str(payload.get("phone_number"))):
            return httpx.Response(422, json={"error": "phone_number must be 2547XXXXXXXX"})
        if payload.get("currency") != "KES" or not re.fullmatch(
            r"\d+\.\d{2}", str(payload.get("amount"))
        ):
            return httpx.Response(422, json={"error": "amount must be like 50000.00 in KES"})
        reference = str(payload.get("reference"))
        request = json.dumps(payload, sort_keys=True)
        with self.store.write() as db:
            row = db.execute("select * from payouts where reference = ?", (reference,)).fetchone()
            if row is not None and row["request"] != request:
                return httpx.Response(409, json={"error": "reference already used"})
            if row is None:
                transaction_id = "IS" + hashlib.sha256(reference.encode()).hexdigest()[:12].upper()
                db.execute(
                    "insert into payouts values (?, ?, 'processing', ?)",
                    (reference, request, transaction_id),
                )
                row = db.execute(
                    "select * from payouts where reference = ?", (reference,)
                ).fetchone()
                if not self.hold_callbacks:
                    self._call_back(reference)
        return httpx.Response(202, json=self._body(row))

    def _status(self, reference: str) -> httpx.Response:
        row = self._settle(reference)
        if row is None:
            return httpx.Response(404, json={"error": "unknown reference"})
        return httpx.Response(200, json=self._body(row))

    def _settle(self, reference: str) -> dict | None:
        with self.store.write() as db:
            db.execute("update payouts set status = 'completed' where reference = ?", (reference,))
            return db.execute("select * from payouts where reference = ?", (reference,)).fetchone()

    def _call_back(self, reference: str) -> None:
        from payments.tasks import local_intersend_settle  # tasks import the providers

        dispatch_on_commit(local_intersend_settle, reference)

    def callback(self, reference: str) -> tuple[str, dict[str, str]]:
        """The transfer settles and Intersend signs the news for our callback URL."""
        body = json.dumps(self._body(self._settle(reference)))
        return body, signed_headers(self.api_key, self.api_secret, body.encode())

    @staticmethod
    def _body(row: dict) -> dict:
        return {
            "reference": row["reference"],
            "status": row["status"],
            "transaction_id": row["transaction_id"],
            "failure_reason": "",
        }
