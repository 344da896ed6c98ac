"""Walks the seed's Testing Flow against a running server (`make run` in another terminal):
register an employer and an employee, post a job, pay it by M-Pesa Pay Bill through the sandbox
(which calls our registered validation and confirmation URLs, as Safaricom does), assign,
complete, and wait for the payout (M-Pesa B2C, its result called back by the sandbox). Prints each
step and the final balances."""

import argparse
import math
import secrets
import sys
import time
from decimal import Decimal

import httpx

PASSWORD = "demo-passphrase-2026"


def step(title: str) -> None:
    print(f"\n== {title}")


def check(response: httpx.Response, expected: int) -> dict:
    if response.status_code != expected:
        sys.exit(f"   unexpected {response.status_code}: {response.text}")
    return response.json()


def register(client: httpx.Client, user_type: str, first: str, last: str) -> tuple[dict, str]:
    phone = (
        "07" + str(secrets.choice([1, 2])) + "".join(secrets.choice("0123456789") for _ in range(7))
    )
    body = check(
        client.post(
            "/api/auth/register/",
            json={
                "phone_number": phone,
                "password": PASSWORD,
                "first_name": first,
                "last_name": last,
                "user_type": user_type,
            },
        ),
        201,
    )
    print(f"   {user_type} #{body['user']['id']} {first} {last}, {body['user']['phone_number']}")
    return body["user"], body["access"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--sandbox-url", default="http://127.0.0.1:8002")
    parser.add_argument("--budget", default="1500.00")
    args = parser.parse_args()
    client = httpx.Client(base_url=args.base_url, timeout=10)

    step("Health")
    try:
        print("  ", check(client.get("/api/health/"), 200))
    except httpx.ConnectError:
        sys.exit(f"   nothing answers at {args.base_url}: start the server with `make run` first")

    step("1. Register an employer and an employee")
    _, employer = register(client, "employer", "Wanjiku", "Kamau")
    worker, employee = register(client, "employee", "Otieno", "Odhiambo")
    as_employer = {"Authorization": f"Bearer {employer}"}
    as_employee = {"Authorization": f"Bearer {employee}"}

    step("2. Create a job")
    job = check(
        client.post(
            "/api/jobs/",
            headers=as_employer,
            json={
                "title": "Paint a two-room house",
                "description": "Walls and ceiling, paint provided, in Kasarani.",
                "budget": args.budget,
            },
        ),
        201,
    )
    ref = job["escrow_contract_id"]
    pay = job["deposit_instructions"]
    print(
        f"   job #{job['id']} {job['status']}; pay KES {pay['amount']} to Pay Bill "
        f"{pay['paybill']}, account {pay['account_number']}"
    )

    step("3. The employer pays by M-Pesa Pay Bill; M-Pesa validates, then confirms to us")
    try:
        paid = check(
            httpx.post(
                f"{args.sandbox_url}/_sandbox/pay-bill",
                # M-Pesa moves whole shillings: what is owed, rounded up.
                json={
                    "account": ref,
                    "amount": math.ceil(Decimal(pay["amount"])),
                    "first_name": "W",
                },
                timeout=30,
            ),
            200,
        )
    except httpx.ConnectError:
        sys.exit(f"   no sandbox answers at {args.sandbox_url} (MPESA_ENV=local, `make run`)")
    for stage in ("validation", "confirmation"):
        answer = paid.get(stage) or {}
        print(f"   M-Pesa {paid['TransID']} {stage}: {answer.get('answer') or answer.get('error')}")
    job = check(client.get(f"/api/jobs/{job['id']}/", headers=as_employer), 200)
    print(
        f"   escrow {ref}: {job['escrow']['status']}, funded KES {job['escrow']['funded_amount']}"
    )

    step("4. The employee applies; the employer assigns them")
    check(client.post(f"/api/jobs/{job['id']}/apply/", headers=as_employee, json={}), 201)
    job = check(
        client.patch(
            f"/api/jobs/{job['id']}/", headers=as_employer, json={"employee": worker["id"]}
        ),
        200,
    )
    print(f"   job {job['status']}, escrow {job['escrow']['status']}")

    step("5. The employer marks the work complete")
    job = check(client.post(f"/api/jobs/{job['id']}/complete/", headers=as_employer), 200)
    print(f"   job {job['status']}, escrow {job['escrow']['status']}")

    step("6. Release on the ledger and payout to the worker's phone")
    deadline = time.monotonic() + 30
    while True:
        job = check(client.get(f"/api/jobs/{job['id']}/", headers=as_employer), 200)
        payout = job["payout"] or {}
        if payout.get("status") in {"completed", "failed"} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for tx in job["escrow"]["transactions"]:
        print(f"   ledger {tx['operation']:<8} {tx['status']:<10} {tx['tx_hash'][:16]}")
    print(
        f"   payout {payout.get('reference')}: {payout.get('status')} "
        f"({payout.get('transaction_reference')}) to {payout.get('phone_number')}"
    )

    step("Final balances")
    escrow = job["escrow"]
    for label, key in [
        ("budget", "amount"),
        ("deposited", "funded_amount"),
        ("held in escrow", "held_amount"),
        ("released", "released_amount"),
    ]:
        print(f"   {label:<16} KES {escrow[key]:>12}")
    print(f"   {'paid out':<16} KES {payout.get('amount', '0.00'):>12}  ({payout.get('status')})")
    if payout.get("status") != "completed":
        sys.exit("   the payout did not complete")


if __name__ == "__main__":
    main()
