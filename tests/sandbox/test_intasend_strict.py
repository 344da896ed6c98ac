"""The sandbox's IntaSend says no where IntaSend says no, in the shapes its pages document, and
answers with every documented field. Requests come from a plain httpx client, not ours."""

import json

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.intasend import APPROVE, INITIATE, STATUS
from tests.rails import sample

KEY = "local-intasend-secret"
CHALLENGE = "local-intasend-challenge"
EVERY_STATUS = [
    ("Preview and approve", "BP103"),
    ("Confirming balance", "BP104"),
    ("Sending payment", "BP109"),
    ("Completed", "BC100"),
]


class Client:
    """Anyone's client of IntaSend's API: plain httpx with a Bearer key."""

    def __init__(self, transport: httpx.BaseTransport, key: str = KEY) -> None:
        self.http = httpx.Client(
            transport=transport,
            base_url="http://127.0.0.1:8002",
            headers={"Authorization": f"Bearer {key}"},
        )

    def post(self, path: str, body: object) -> httpx.Response:
        return self.http.post(path, json=body)

    @staticmethod
    def batch(**changes: object) -> dict:
        item = {"name": "Amina Otieno", "account": 254712345678, "amount": 1500, "narrative": "Pay"}
        item.update(changes.pop("item", {}))
        return {
            "provider": "MPESA-B2C",
            "currency": "KES",
            "requires_approval": "YES",
            "transactions": [item],
            **changes,
        }

    def initiate(self, **changes: object) -> dict:
        answer = self.post(INITIATE, self.batch(**changes))
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def intasend(sandbox):
    return sandbox.intasend


@pytest.fixture
def client(sandbox) -> Client:
    return Client(sandbox)


@pytest.fixture(scope="module")
def device() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signed(key: rsa.RSAPrivateKey, nonce: str) -> str:
    return key.sign(nonce.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()


def errors(answer: httpx.Response) -> list[tuple[str, str, str | None]]:
    """The refusal's (code, detail, attr), checking its documented shape."""
    body = answer.json()
    assert set(body) == {"type", "errors"}, body
    assert body["type"] == "client_error"
    for error in body["errors"]:
        assert set(error) == {"code", "detail", "attr"}
    return [(e["code"], e["detail"], e["attr"]) for e in body["errors"]]


def nobody_answers(sandbox) -> None:
    """Events go to a URL nobody serves: their bodies stay in the deliveries, unanswered."""
    sandbox.intasend._webhook_control({"url": "http://127.0.0.1:9/webhook"})


# --- the key ----------------------------------------------------------------------------------


def test_a_wrong_or_missing_key_is_refused_as_documented(sandbox, intasend):
    wrong = Client(sandbox, key="ISSecretKey_live_wrong").post(INITIATE, Client.batch())
    assert wrong.status_code == 401
    assert wrong.json() == sample("intasend/error_authentication")  # the errors page's example
    missing = httpx.Client(transport=sandbox, base_url="http://127.0.0.1:8002")
    answer = missing.post(INITIATE, json=Client.batch())
    assert (answer.status_code, errors(answer)[0][0]) == (401, "not_authenticated")
    intasend.faults.auth_status = 403  # as the errors page's example says it comes
    assert Client(sandbox, key="wrong").post(STATUS, {"tracking_id": "x"}).status_code == 403
    intasend.faults.legacy_errors = True
    answer = missing.post(INITIATE, json=Client.batch())
    assert answer.json() == sample("intasend/error_not_authenticated")  # the older page's
    assert intasend.sent(INITIATE) == []  # nothing reached the handler


def test_paths_and_methods(sandbox, client):
    assert errors(client.post("/api/v1/send-money/elsewhere/", {}))[0][0] == "not_found"
    answer = client.http.get(STATUS, params={"tracking_id": "x"})
    assert (answer.status_code, errors(answer)[0][0]) == (405, "method_not_allowed")
    garbled = client.http.post(INITIATE, content=b"{oops", headers={"Content-Type": "x"})
    assert (garbled.status_code, errors(garbled)[0][0]) == (400, "parse_error")
    listed = client.post(INITIATE, [Client.batch()])
    assert errors(listed)[0][2] == "non_field_errors"


# --- initiate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code", "attr"),
    [
        ({"item": {"amount": 9}}, "min_value", "transactions.0.amount"),
        ({"item": {"amount": 250_001}}, "max_value", "transactions.0.amount"),
        ({"item": {"amount": "1500.50"}}, "invalid", "transactions.0.amount"),
        ({"item": {"amount": None}}, "invalid", "transactions.0.amount"),
        ({"item": {"account": "0712345678"}}, "invalid", "transactions.0.account"),
        ({"item": {"account": "+254712345678"}}, "invalid", "transactions.0.account"),
        ({"item": {"account": 254612345678}}, "invalid", "transactions.0.account"),
        ({"item": {"name": ""}}, "blank", "transactions.0.name"),
        ({"item": {"name": None}}, "required", "transactions.0.name"),
        ({"item": {"narrative": "x" * 101}}, "max_length", "transactions.0.narrative"),
        ({"transactions": []}, "invalid", "transactions"),
        ({"transactions": "254712345678"}, "invalid", "transactions"),
        ({"provider": "MPESA"}, "invalid_choice", "provider"),
        ({"provider": "PESALINK"}, "invalid", "provider"),
        ({"currency": "USD"}, "invalid", "currency"),
        ({"currency": None}, "required", "currency"),
        ({"requires_approval": "MAYBE"}, "invalid_choice", "requires_approval"),
        ({"callback_url": "not a url"}, "invalid", "callback_url"),
        ({"device_id": 3}, "invalid", "device_id"),
    ],
)
def test_an_initiate_intasend_would_refuse_is_refused_field_by_field(
    client, intasend, changes, code, attr
):
    answer = client.post(INITIATE, Client.batch(**changes))
    assert answer.status_code == 400
    assert [(c, a) for c, _, a in errors(answer)] == [(code, attr)]
    assert intasend.store.one("select count(*) as n from intasend_batches")["n"] == 0


def test_every_problem_is_listed_and_the_older_shape_names_the_first(client, intasend):
    bad = Client.batch(currency="USD", item={"amount": 5, "account": "0712"})
    assert [a for _, _, a in errors(client.post(INITIATE, bad))] == [
        "currency",
        "transactions.0.account",
        "transactions.0.amount",
    ]
    intasend.faults.legacy_errors = True
    answer = client.post(INITIATE, Client.batch(device_id=3))
    assert answer.json() == sample("intasend/initiate_refused")  # {"details": "Device id..."}


def test_the_limits_are_the_accounts(client, sandbox):
    assert client.post(INITIATE, Client.batch(item={"amount": 10})).status_code == 200
    assert client.post(INITIATE, Client.batch(item={"amount": 250_000})).status_code == 200
    assert client.post(INITIATE, Client.batch(item={"amount": "1500"})).status_code == 200


def test_the_initiate_answer_has_every_documented_field(client):
    answer = client.initiate()
    documented = sample("intasend/initiate_answer")
    current = sample("intasend/send_money_event_completed")
    assert set(documented) | set(current) <= set(answer)
    (item,) = answer["transactions"]
    documented_item = documented["transactions"][0]
    assert set(documented_item) - {"phone_number"} <= set(item)
    assert set(current["transactions"][0]) <= set(item)
    assert (answer["status"], answer["status_code"]) == ("Preview and approve", "BP101")
    assert (item["status"], item["status_code"]) == ("Pending", "TP101")
    assert len(answer["nonce"]) == 6
    assert answer["device_id"] is None
    assert (item["amount"], item["charge"], item["account"]) == ("1500.00", "50.00", "254712345678")
    assert (answer["charge_estimate"], answer["total_amount_estimate"]) == ("50.00", "1550.00")
    assert (answer["paid_amount"], answer["transactions_count"]) == ("0.00", 1)


# --- approve ----------------------------------------------------------------------------------


def test_approval_moves_the_batch_on_with_an_event_at_every_status_change(
    client, sandbox, intasend
):
    nobody_answers(sandbox)
    batch = client.initiate()
    approved = client.post(APPROVE, batch)
    assert approved.status_code == 200
    events = intasend.events()
    assert [(e["status"], e["status_code"]) for e in events] == EVERY_STATUS
    assert {e["challenge"] for e in events} == {CHALLENGE}
    assert [e["transactions"][0]["status_code"] for e in events] == [
        "TP101",
        "TP101",
        "TP102",
        "TS100",
    ]
    assert {e["created_at"] for e in events} == {batch["created_at"]}  # never changes
    assert len({e["updated_at"] for e in events}) == len(events)
    done = client.post(STATUS, {"tracking_id": batch["tracking_id"]}).json()
    (paid,) = done["transactions"]
    assert (done["paid_amount"], done["actual_charges"]) == ("1500.00", "50.00")
    assert paid["provider_reference"] == paid["mno_reference"]
    assert len(paid["provider_reference"]) == 10
    assert paid["status_description"] == "The service request is processed successfully."
    assert intasend.balance() == 10_000_000 - 1550
    deliveries = sandbox.deliveries.recent(10)
    assert {d["url"] for d in deliveries} == {"http://127.0.0.1:9/webhook"}


def test_a_repeated_approval_changes_nothing(client, sandbox, intasend):
    nobody_answers(sandbox)
    batch = client.initiate()
    first = client.post(APPROVE, batch).json()
    again = client.post(APPROVE, batch)
    assert again.status_code == 200
    assert again.json()["status"] == "Completed"  # where it got to, once
    assert first["status"] == "Confirming balance"
    assert len(intasend.events()) == len(EVERY_STATUS)
    assert intasend.balance() == 10_000_000 - 1550


@pytest.mark.parametrize(
    ("changes", "status", "code", "attr"),
    [
        ({"tracking_id": "c1acf08c-5cc1-4b3e-b4a8-e43bc068aa56"}, 404, "not_found", None),
        ({"tracking_id": None}, 404, "not_found", None),
        ({"nonce": "1aiw02"}, 400, "invalid", "nonce"),
        ({"nonce": ""}, 400, "required", "nonce"),
        ({"nonce": None}, 400, "required", "nonce"),
    ],
)
def test_an_approval_intasend_would_refuse_is_refused(
    client, intasend, changes, status, code, attr
):
    batch = client.initiate()
    answer = client.post(APPROVE, {**batch, **changes})
    assert answer.status_code == status
    assert [(c, a) for c, _, a in errors(answer)] == [(code, attr)]
    after = client.post(STATUS, {"tracking_id": batch["tracking_id"]}).json()
    assert after["status"] == "Preview and approve"


def test_an_approval_of_other_transactions_is_refused(client):
    batch = client.initiate()
    tampered = json.loads(json.dumps(batch))
    tampered["transactions"][0]["amount"] = "15000.00"
    assert errors(client.post(APPROVE, tampered))[0][2] == "transactions"
    assert client.post(APPROVE, batch).status_code == 200


def test_without_approval_asked_it_goes_at_once(client, sandbox, intasend):
    nobody_answers(sandbox)
    answer = client.initiate(requires_approval="NO")
    assert answer["status"] == "Confirming balance"
    assert [e["status"] for e in intasend.events()] == [s for s, _ in EVERY_STATUS[1:]]


def test_a_batch_the_wallet_cannot_cover_fails_processing(client, sandbox, intasend):
    nobody_answers(sandbox)
    intasend._wallet_control({"balance": 1549})
    batch = client.initiate()
    client.post(APPROVE, batch)
    failed = client.post(STATUS, {"tracking_id": batch["tracking_id"]}).json()
    assert (failed["status"], failed["status_code"]) == ("Failed Processing", "BF105")
    assert failed["transactions"][0]["status_code"] == "TF103"
    assert (failed["failed_amount"], intasend.balance()) == (1500.0, 1549)


def test_a_transaction_mpesa_refuses_fails_and_its_money_comes_back(client, sandbox, intasend):
    nobody_answers(sandbox)
    intasend.faults.fail_later = 1
    batch = client.initiate(transactions=[Client.batch()["transactions"][0]] * 2)
    client.post(APPROVE, batch)
    done = client.post(STATUS, {"tracking_id": batch["tracking_id"]}).json()
    assert done["status"] == "Completed"  # the batch; each transaction says how it went
    assert [t["status_code"] for t in done["transactions"]] == ["TF106", "TS100"]
    assert done["transactions"][0]["provider_reference"] is None
    assert intasend.balance() == 10_000_000 - 1550


# --- an API device ----------------------------------------------------------------------------


def test_with_a_device_registered_approvals_must_be_signed_by_it(client, sandbox, intasend, device):
    nobody_answers(sandbox)
    intasend._device_control({"device_id": 1, "public_key": public_pem(device)})
    unsigned = client.post(INITIATE, Client.batch())
    assert errors(unsigned) == [("required", "This field is required.", "device_id")]
    unknown = client.post(INITIATE, Client.batch(device_id=2))
    assert errors(unknown)[0][1] == "Device id not found"
    batch = client.initiate(device_id=1)
    assert batch["device_id"] == 1
    plain = client.post(APPROVE, batch)  # the nonce itself, unsigned
    assert errors(plain) == [("invalid", "Nonce signature verification failed.", "nonce")]
    someone_else = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = client.post(APPROVE, {**batch, "nonce": signed(someone_else, batch["nonce"])})
    assert errors(forged)[0][2] == "nonce"
    not_hex = client.post(APPROVE, {**batch, "nonce": "zz" + signed(device, batch["nonce"])})
    assert errors(not_hex)[0][2] == "nonce"
    other_device = client.post(
        APPROVE, {**batch, "device_id": 2, "nonce": signed(device, batch["nonce"])}
    )
    assert errors(other_device)[0][2] == "device_id"
    assert intasend.events()[-1]["status"] == "Preview and approve"  # nothing moved
    good = client.post(APPROVE, {**batch, "nonce": signed(device, batch["nonce"])})
    assert good.status_code == 200
    assert client.post(APPROVE, {**batch, "nonce": signed(device, batch["nonce"])}).is_success


# --- status -----------------------------------------------------------------------------------


def test_status_by_body_or_query_and_unknown_batches(client):
    batch = client.initiate()
    by_body = client.post(STATUS, {"tracking_id": batch["tracking_id"]}).json()
    by_query = client.http.post(STATUS, params={"tracking_id": batch["tracking_id"]}, json={})
    assert by_query.json() == by_body
    assert "nonce" not in by_body
    assert (by_body["status"], by_body["status_code"]) == ("Preview and approve", "BP103")
    assert errors(client.post(STATUS, {}))[0] == (
        "required",
        "This field is required.",
        "tracking_id",
    )
    assert client.post(STATUS, {"tracking_id": "nope"}).status_code == 404


def test_the_pages_without_status_codes_can_be_played(client, sandbox, intasend):
    nobody_answers(sandbox)
    intasend.faults.status_codes = False
    batch = client.initiate()
    client.post(APPROVE, batch)
    for shown in [batch, *intasend.events()]:
        assert "status_code" not in shown
        assert all("status_code" not in t for t in shown["transactions"])


# --- fault switches ---------------------------------------------------------------------------


def test_busy_failing_and_lost_answers(client, sandbox, intasend):
    intasend.faults.rate_limit = 1
    busy = client.post(INITIATE, Client.batch())
    assert (busy.status_code, busy.headers["Retry-After"], errors(busy)[0][0]) == (
        429,
        "30",
        "throttled",
    )
    intasend.faults.fail_requests = 1
    assert client.post(INITIATE, Client.batch()).status_code == 503
    intasend.faults.lose_answers = 1
    with pytest.raises(httpx.ReadTimeout):
        client.post(INITIATE, Client.batch())
    (lost,) = intasend.store.all("select tracking_id from intasend_batches")  # carried out
    assert client.post(STATUS, {"tracking_id": lost["tracking_id"]}).status_code == 200
    assert [r["status"] for r in sandbox.requests_seen("intasend")] == [429, 503, 0, 200]


def test_held_and_doubled_events(client, sandbox, intasend):
    nobody_answers(sandbox)
    intasend.faults.hold_callbacks = True
    intasend.faults.callback_copies = 2
    client.post(APPROVE, client.initiate())
    held = [d for d in sandbox.deliveries.recent(20) if d["status"] == "held"]
    assert len(held) == 2 * len(EVERY_STATUS)
    assert sandbox.deliveries.release_held("intasend") == len(held)


def test_the_dashboard_webhook_and_challenge_can_be_changed(sandbox, intasend, client):
    control = httpx.Client(transport=sandbox, base_url="http://127.0.0.1:8002/_sandbox/")
    answer = control.post(
        "intasend/webhook", json={"url": "http://127.0.0.1:9/hook", "challenge": "s3cret"}
    )
    assert answer.json() == {"url": "http://127.0.0.1:9/hook", "challenge_set": True}
    client.initiate()
    (event,) = intasend.events()
    assert event["challenge"] == "s3cret"
    assert (
        control.post("intasend/device", json={"device_id": 1, "public_key": "x"}).status_code == 400
    )
    assert control.post("intasend/wallet", json={"balance": "12.5"}).status_code == 400


def test_batches_and_the_wallet_survive_a_restart(tmp_path):
    from sandbox import build
    from sandbox.config import Config, IntasendAccount

    config = Config(
        db_path=tmp_path / "s.sqlite3",
        intasend=IntasendAccount(webhook_url="http://127.0.0.1:9/hook"),  # nobody there
    )
    first = build(config)
    batch = Client(first).initiate()
    first.intasend._wallet_control({"balance": 5000})
    restarted = build(config)
    again = Client(restarted)
    assert again.post(APPROVE, batch).json()["status"] == "Confirming balance"
    assert restarted.intasend.store.one("select count(*) as n from intasend_wallet")["n"] == 1
    restarted.deliveries.deliver_pending()  # the steps left to take
    done = again.post(STATUS, {"tracking_id": batch["tracking_id"]}).json()
    assert done["status"] == "Completed"
    assert restarted.intasend.balance() == 5000 - 1550


def test_the_sandbox_reads_the_apps_settings_for_its_dashboard(monkeypatch, device):
    from sandbox.config import Config

    private = device.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    monkeypatch.setenv("MPESA_CALLBACK_BASE_URL", "http://127.0.0.1:8123/")
    monkeypatch.setenv("INTASEND_DEVICE_ID", "4")
    monkeypatch.setenv("INTASEND_DEVICE_PRIVATE_KEY", private.replace("\n", "\\n"))
    config = Config.from_env()
    assert config.intasend.webhook_url == "http://127.0.0.1:8123/api/callbacks/intasend/payout/"
    assert config.intersend.callback_url == "http://127.0.0.1:8123/api/callbacks/intersend/payout/"
    ((device_id, public),) = config.intasend.devices
    assert (device_id, public) == ("4", public_pem(device))  # as given on the dashboard
