"""How long money takes to go back, on the embedded default as `make run` serves it (scripts/run.py
on a temporary KAZI_VAR_DIR and free ports): a funded job is cancelled over HTTP and the refund
payout is watched until M-Pesa's B2C result (posted by the sandbox process after
SANDBOX_CALLBACK_DELAY_SECONDS, 1 s) makes it `completed`. The times are printed (run with -s),
not asserted: they measure the stand-ins and this machine, not a promise."""

import time

import httpx
import pytest

from tests.e2e.test_embedded_server import employer_client, start

JOBS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start(tmp_path_factory.mktemp("refunds"), PERIODIC_TICK_SECONDS="1")
    yield server
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=30)


def funded_job(server, boss: httpx.Client, phone: str, n: int) -> dict:
    job = boss.post(
        "/api/jobs/", json={"title": f"Roof {n}", "description": "Iron sheets", "budget": "1800"}
    ).json()
    paid = httpx.post(
        f"{server.sandbox}/_sandbox/pay-bill",
        json={"account": job["escrow_contract_id"], "amount": 1800, "phone": phone},
        timeout=30,
    ).json()
    assert paid["completed"] is True, paid
    deadline = time.monotonic() + 30
    while boss.get(f"/api/jobs/{job['id']}/").json()["escrow"]["status"] != "funded":
        assert time.monotonic() < deadline, server.output()[-3000:]
        time.sleep(0.05)
    return job


def test_a_cancelled_funded_job_is_refunded_to_the_employers_phone(server):
    phone = "254722000411"
    boss = employer_client(server.base, f"+{phone}")
    timings = []
    for n in range(JOBS):
        job = funded_job(server, boss, phone, n)

        started = time.monotonic()
        cancelled = boss.post(f"/api/jobs/{job['id']}/cancel/")
        answered = time.monotonic() - started
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["status"], cancelled.json()["escrow"]["status"]) == (
            "cancelled",
            "refunded",
        )
        deadline = started + 60
        while True:
            shown = boss.get(f"/api/jobs/{job['id']}/").json()
            payout = shown["payout"] or {}
            if payout.get("status") in {"completed", "failed"} or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        refunded = time.monotonic() - started
        timings.append((answered, refunded))
        print(
            f"\nrefund {n + 1}: cancel answered in {answered:.3f} s; "
            f"refund payout {payout.get('status')} after {refunded:.3f} s"
        )
        assert payout["status"] == "completed", (payout, server.output()[-3000:])
        assert (payout["kind"], payout["recipient"], payout["amount"]) == (
            "refund",
            "employer",
            "1800.00",
        )
        assert payout["phone_number"] == f"+{phone}"
        assert "refund" in [t["operation"] for t in shown["escrow"]["transactions"]]

    sent = httpx.get(f"{server.sandbox}/_sandbox/deliveries", params={"limit": 100}).json()
    results = [d for d in sent["deliveries"] if d["kind"] == "b2c-result"]
    assert [(d["status"], d["answer_status"]) for d in results] == [("delivered", 200)] * JOBS
    answered = sorted(a for a, _ in timings)
    total = sorted(r for _, r in timings)
    print(
        f"refunds: cancel answered in {answered[0]:.3f}-{answered[-1]:.3f} s, completed after "
        f"{total[0]:.3f}-{total[-1]:.3f} s (median {total[len(total) // 2]:.3f} s) "
        f"with SANDBOX_CALLBACK_DELAY_SECONDS=1"
    )
