"""`make run` with each payout provider (PAYOUT_PROVIDER=mpesa_b2c, intasend, intersend): the real
scripts/run.py on a temporary KAZI_VAR_DIR and free ports, the app reaching the provider's
stand-in in the sandbox process through its real client over HTTP. A job is paid by Pay Bill,
assigned and completed; the completion answers at once, and the payout reaches `completed`
through the provider's own news, POSTed over HTTP by the sandbox's deliverer to our callback
URL, never by a status query; every listener answered promptly and on the first try (a request
waiting on the SQLite write lock would not: the busy timeout is 20 s)."""

import time

import httpx
import pytest

from tests.e2e.test_embedded_server import employer_client, start

# What each provider's news is called in the sandbox's deliveries, how it reports the payout
# paid, and the status query that would mean the news did not do it.
PROVIDERS = {
    "mpesa_b2c": ("b2c-result", ("POST", "/mpesa/transactionstatus/v1/query")),
    "intasend": ("send-money-event", ("POST", "/api/v1/send-money/status/")),
    "intersend": ("payout-callback", ("GET", "/intersend/payouts/")),
}


def paid_out(delivery: dict) -> str:
    """The receipt a delivery reports, once paid."""
    body = delivery["body"]
    if delivery["kind"] == "b2c-result":
        return body["Result"]["TransactionID"] if body["Result"]["ResultCode"] == 0 else ""
    if delivery["kind"] == "send-money-event":
        if body["status"] != "Completed":
            return ""
        return body["transactions"][0]["provider_reference"] or ""
    return body["transaction_id"] if body["status"] == "completed" else ""


@pytest.fixture(params=list(PROVIDERS), scope="module")
def server(request, tmp_path_factory):
    provider = request.param
    server = start(tmp_path_factory.mktemp(provider), PAYOUT_PROVIDER=provider)
    server.provider = provider
    yield server
    server.process.terminate()
    server.process.wait(timeout=30)


def test_a_completed_jobs_payout_is_completed_by_the_providers_own_news(server):
    assert f"payouts   {server.provider}" in server.output()
    boss = employer_client(server.base, "+254722000411")
    worker = employer_client(server.base, "+254712000511", role="employee")
    job = boss.post(
        "/api/jobs/", json={"title": "Dig a trench", "description": "20 m", "budget": "3000"}
    ).json()
    paid = httpx.post(
        f"{server.sandbox}/_sandbox/pay-bill",
        json={"account": job["escrow_contract_id"], "amount": 3000, "phone": "254722000411"},
        timeout=30,
    ).json()
    assert paid["completed"] is True, paid
    assert worker.post(f"/api/jobs/{job['id']}/apply/", json={}).status_code == 201
    assigned = boss.patch(f"/api/jobs/{job['id']}/", json={"employee": worker.user_id})
    assert assigned.json()["status"] == "in_progress", assigned.text

    started = time.monotonic()
    completed = boss.post(f"/api/jobs/{job['id']}/complete/")
    answered = time.monotonic() - started
    assert completed.status_code == 200, completed.text
    deadline = started + 30
    while (payout := boss.get(f"/api/jobs/{job['id']}/").json()["payout"] or {}).get(
        "status"
    ) not in {"completed", "failed"} and time.monotonic() < deadline:
        time.sleep(0.1)
    settled = time.monotonic() - started
    print(
        f"\n{server.provider}: completion answered in {answered:.3f} s; "
        f"payout completed after {settled:.3f} s"
    )
    assert payout["status"] == "completed", (payout, server.output()[-3000:])
    assert answered < 5  # the provider's news comes later, from the sandbox's own thread

    kind, (method, status_query) = PROVIDERS[server.provider]
    sent = httpx.get(f"{server.sandbox}/_sandbox/deliveries", params={"limit": 100}).json()
    news = [d for d in reversed(sent["deliveries"]) if d["kind"] == kind]
    assert news, sent
    assert [(d["status"], d["answer_status"], d["attempts"]) for d in news] == [
        ("delivered", 200, 1)
    ] * len(news)
    assert all(d["seconds"] < 3 for d in sent["deliveries"]), sent  # nobody waited on a lock
    receipts = [paid_out(d) for d in news]
    assert receipts[-1] == payout["transaction_reference"]
    assert [r for r in receipts if r] == [receipts[-1]]  # paid once, told once
    seen = httpx.get(f"{server.sandbox}/_sandbox/requests", params={"limit": 200}).json()
    asked = [
        r
        for r in seen["requests"]
        if (r["method"], r["path"][: len(status_query)])
        == (
            method,
            status_query,
        )
    ]
    assert not asked, seen
    if server.provider == "intasend":
        assert [d["body"]["status"] for d in news] == [
            "Preview and approve",
            "Confirming balance",
            "Sending payment",
            "Completed",
        ]
    if server.provider == "intersend":
        assert [d["body"]["status"] for d in news] == ["processing", "completed"]
    health = httpx.get(f"{server.base}/api/health/").json()
    assert health["status"] == "ok", health
