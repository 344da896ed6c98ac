"""The escrow's life in a real browser, through the pages only, against the real processes: each
journey on a laptop and on a 360 px phone, every page checked (axe-core, labels, language, no
sideways scrolling, 44 px tap targets, weight, no other host) as it is reached.

M-Pesa is the sandbox process: it completes the STK prompt and the B2C payouts as Safaricom would,
posting its results back to the app. To look at a page while money is on its way, its answers are
held back for a moment (`app.callbacks_held()`), then delivered; the open page notices by itself
(htmx polls the live part and reloads the page when the state changes)."""

import re
import time
from decimal import Decimal

import httpx
import pytest

from tests.browser.conftest import PASSWORD, new_phone

pytestmark = pytest.mark.browser


def sign_up(person, first: str, last: str, phone: str, as_: str) -> None:
    """The sign-up form, reached from the home page's call to action."""
    person.open("/")
    person.check("home")
    person.press("cta-hire" if as_ == "employer" else "cta-work")
    assert person.find(f'input[name="user_type"][value="{as_}"]').is_selected()
    person.check("signup")
    person.type("first_name", first)
    person.type("last_name", last)
    person.type("phone_number", phone)
    person.type("password", PASSWORD)
    person.press("signup-submit")
    person.role = as_


def log_in(person, phone: str) -> None:
    person.open("/login/")
    person.check("login")
    person.type("phone_number", phone)
    person.type("password", PASSWORD)
    person.press("login-submit")


def post_job(person, title: str, budget: str) -> int:
    if person.path != "/jobs/new/":
        person.press("nav-post-job")
    person.check("post-a-job")
    person.type("title", title)
    person.type("description", "Two rooms in Kasarani, walls and ceiling. Paint is provided.")
    person.type("budget", budget)
    person.press("job-submit")
    job_id = int(person.testid("job").get_attribute("data-job-id"))
    assert person.path == f"/jobs/{job_id}/"
    return job_id


def step_state(person, step: str) -> str:
    return person.find(f'[data-testid="timeline"] [data-step="{step}"]').get_attribute("data-state")


def job_status(person) -> str:
    return person.testid("job").get_attribute("data-status")


def open_job(person, job_id: int) -> None:
    person.open(f"/jobs/{job_id}/")


def payouts(person) -> list[tuple[str, str]]:
    """The payouts on the job page: (status, receipt shown or "")."""
    shown = []
    for card in person.finds('[data-testid="payout"]'):
        receipts = card.find_elements("css selector", '[data-testid="receipt"]')
        shown.append((card.get_attribute("data-status"), receipts[0].text if receipts else ""))
    return shown


def watched_by_htmx(person) -> list[str]:
    """The live part's polls the page made since the last look (XHR to /jobs/<id>/live/)."""
    return [r["url"] for r in person.network() if "/live/" in r["url"] and r.get("type") == "XHR"]


def test_employer_pays_by_stk_worker_in_kiswahili_is_paid_and_both_rate(app, people, viewport):
    boss = people("employer", viewport=viewport)
    worker = people("worker", viewport=viewport)
    boss_phone, worker_phone = new_phone(), new_phone()
    title = f"Paint a two-room house ({viewport})"

    # The employer signs up from the home page and lands on "Post a job".
    sign_up(boss, "Wanjiku", "Kamau", boss_phone, "employer")
    assert boss.path == "/jobs/new/"
    assert "Welcome to Kazi Trust" in boss.messages()[0]
    job_id = post_job(boss, title, "KES 1,500")
    assert boss.testid("amount-owed").text == "KES 1,500.00"
    assert boss.testid("account-number").text.startswith("ESCROW_")
    boss.check("job-posted-to-pay")

    # Pay with M-Pesa: the STK prompt goes to the phone; M-Pesa's answer is held a moment.
    with app.callbacks_held():
        assert boss.find('[data-testid="pay-form"] [name="phone_number"]').get_attribute("value")
        boss.press("pay-button")
        assert "We sent a payment request" in boss.messages()[0]
        assert boss.has('[data-testid="prompt-waiting"]')
        assert boss.driver.execute_script("return typeof window.htmx") == "object"
        boss.check("prompt-on-the-phone")
        boss.network()
    # The customer typed their PIN: the sandbox completes the payment and calls the app back.
    # The page, left alone, turns to "paid" by itself.
    boss.wait_for(lambda: step_state(boss, "paid") == "done", "the page showing the job paid")
    assert watched_by_htmx(boss), "htmx did not poll the live part"
    assert boss.testid("escrow-status").text
    assert boss.has('[data-testid="deposits"]')
    assert not boss.has('[data-testid="pay-form"]')
    boss.check("paid-into-escrow")

    # A worker switches the site to Kiswahili, signs up and applies.
    worker.open("/")
    worker.press("language-sw")
    worker.language = "sw"
    worker.check("home-sw")
    sign_up(worker, "Otieno", "Ouma", worker_phone, "employee")
    assert worker.path == "/jobs/"
    worker.check("open-jobs-sw")
    worker.type("q", title)
    worker.press("search-button")
    worker.click(f'[data-testid="job-card"][data-job-id="{job_id}"] a')
    assert worker.path == f"/jobs/{job_id}/"
    worker.check("job-to-apply-sw")
    worker.type("message", "Nimepaka rangi nyumba 20 Kasarani.", form="apply-form")
    worker.press("apply-button")
    assert worker.has('[data-testid="my-application"]')
    worker.check("applied-sw")

    # The employer chooses them; the work starts (the money is held already).
    open_job(boss, job_id)
    boss.check("applicants")
    boss.press("assign-button")
    assert job_status(boss) == "in_progress"
    boss.check("worker-chosen")

    # The worker says the work is done.
    open_job(worker, job_id)
    worker.check("to-do-sw")
    worker.press("deliver-button")
    assert job_status(worker) == "delivered"
    worker.check("delivered-sw")

    # The employer releases the money; the payout's result is held a moment, so that both pages
    # can be seen while it is on its way.
    open_job(boss, job_id)
    boss.check("check-the-work")
    with app.callbacks_held():
        boss.click('[data-testid="complete-details"] summary')
        boss.press("complete-button")
        assert job_status(boss) == "completed"
        boss.check("releasing")
        open_job(worker, job_id)
        assert [status for status, _ in payouts(worker)] in (["pending"], ["processing"])
        worker.check("payout-on-its-way-sw")
        worker.network()
    # M-Pesa pays the worker: the worker's page shows it by itself, with the receipt.
    worker.wait_for(lambda: payouts(worker) and payouts(worker)[0][0] == "completed", "payout")
    assert watched_by_htmx(worker), "htmx did not poll the live part"
    [(_, receipt)] = payouts(worker)
    assert re.fullmatch(r"[A-Z0-9]{10}", receipt), receipt
    assert step_state(worker, "released") == "done"
    worker.check("paid-sw")
    worker.press("nav-me")
    assert receipt in worker.text('[data-testid="my-payouts"]')
    assert worker.testid("paid-to-me").text == "KES 1,500.00"
    worker.check("my-page-sw")

    # Both rate each other.
    open_job(worker, job_id)
    worker.choose("score", "5")
    worker.type("comment", "Mwajiri mzuri, alilipa haraka.", form="rate-form")
    worker.press("rate-button")
    assert worker.has('[data-testid="my-rating"]')
    worker.check("rated-sw")
    open_job(boss, job_id)
    assert payouts(boss) == [("completed", receipt)]
    boss.choose("score", "4")
    boss.type("comment", "Good work, on time.", form="rate-form")
    boss.press("rate-button")
    assert "You rated this job 4 / 5." in boss.text('[data-testid="my-rating"]')
    boss.check("rated")


test_employer_pays_by_stk_worker_in_kiswahili_is_paid_and_both_rate.folder = "1-paid-and-rated"


def test_dispute_raised_by_the_worker_is_split_60_40_by_an_arbiter(app, people, viewport):
    boss = people("employer", viewport=viewport)
    worker = people("worker", viewport=viewport)
    arbiter = people("arbiter", viewport=viewport)
    boss_phone, worker_phone = new_phone(), new_phone()
    arbiter_phone = app.make_arbiter("Amina", "Arbiter")
    title = f"Fix a leaking roof ({viewport})"

    sign_up(boss, "Achieng", "Atieno", boss_phone, "employer")
    job_id = post_job(boss, title, "2000")
    # Paid by Pay Bill from the employer's phone, to the account number the page shows.
    account = boss.testid("account-number").text
    paid = app.control("pay-bill", {"account": account, "amount": 2000})
    assert paid["completed"] is True, paid
    open_job(boss, job_id)
    assert step_state(boss, "paid") == "done"

    sign_up(worker, "Kamau", "Njoroge", worker_phone, "employee")
    worker.type("q", title)
    worker.press("search-button")
    worker.click(f'[data-testid="job-card"][data-job-id="{job_id}"] a')
    worker.press("apply-button")
    open_job(boss, job_id)
    boss.press("assign-button")
    assert job_status(boss) == "in_progress"

    # The worker raises a dispute and says why; both sides add a message.
    open_job(worker, job_id)
    worker.click('[data-testid="dispute-details"] summary')
    worker.check("raise-a-dispute", weigh=False)  # weighing reloads: the form would close
    worker.type("reason", "Half the roof is done; the employer will not let me finish.")
    worker.press("dispute-button")
    assert job_status(worker) == "disputed"
    worker.type("text", "Photos of the finished half are with me.", form="dispute-message-form")
    worker.press("dispute-message-button")
    worker.check("disputed")
    open_job(boss, job_id)
    boss.type("text", "Only half was done in two weeks.", form="dispute-message-form")
    boss.press("dispute-message-button")
    messages = boss.finds('[data-testid="dispute-messages"] li')
    assert len(messages) == 2
    boss.check("dispute-both-sides")

    # An arbiter decides on /disputes/: 60% to the worker, 40% back to the employer.
    log_in(arbiter, arbiter_phone)
    arbiter.role = "arbiter"
    arbiter.click('a[href="/disputes/"]')
    arbiter.check("dispute-queue")
    arbiter.click('[data-testid="dispute-queue"] a[href^="/disputes/"]:not([href="/disputes/"])')
    assert title in arbiter.text("h1")
    assert len(arbiter.finds('[data-testid="dispute-messages"] li')) == 2
    arbiter.check("dispute")
    arbiter.type("to_employee", "1200")
    arbiter.type("to_employer", "800")
    arbiter.type("note", "Half the work was done, and well.", form="resolve-form")
    arbiter.press("resolve-button")
    assert arbiter.has('[data-testid="resolution"]')
    arbiter.check("decided")

    # Both sides are paid their share; each sees their own receipt.
    open_job(worker, job_id)
    worker.wait_for(
        lambda: [s for s, _ in payouts(worker)] == ["completed", "completed"], "both shares paid"
    )
    # Both shares are shown; the employer's receipt and phone are not the worker's business.
    [worker_receipt] = [receipt for _, receipt in payouts(worker) if receipt]
    assert job_status(worker) == "resolved"
    worker.check("resolved-paid")
    worker.press("nav-me")
    assert worker.testid("paid-to-me").text == "KES 1,200.00"
    assert worker_receipt in worker.text('[data-testid="my-payouts"]')
    worker.check("my-page-after-dispute")

    open_job(boss, job_id)
    boss.wait_for(
        lambda: [s for s, _ in payouts(boss)] == ["completed", "completed"], "both shares paid"
    )
    receipts = {receipt for _, receipt in payouts(boss)}
    assert worker_receipt in receipts
    [boss_receipt] = receipts - {worker_receipt}
    boss.check("resolved-both-paid")
    boss.press("nav-me")
    assert boss.testid("paid-to-me").text == "KES 800.00"
    assert boss_receipt in boss.text('[data-testid="my-payouts"]')
    assert worker_receipt not in boss.text('[data-testid="my-payouts"]')
    boss.check("my-page-refund")


test_dispute_raised_by_the_worker_is_split_60_40_by_an_arbiter.folder = "2-dispute-60-40"


def released_escrow(app) -> str:
    """A job paid, done and paid out, through the API (the visitor's journey is the test)."""

    def user(role: str) -> httpx.Client:
        client = httpx.Client(base_url=app.base, timeout=60)
        answer = client.post(
            "/api/auth/register/",
            json={
                "phone_number": new_phone(),
                "password": PASSWORD,
                "first_name": "Juma",
                "last_name": "Mwangi",
                "user_type": role,
            },
        )
        assert answer.status_code == 201, answer.text
        client.headers["Authorization"] = f"Bearer {answer.json()['access']}"
        client.user_id = answer.json()["user"]["id"]
        return client

    boss, worker = user("employer"), user("employee")
    job = boss.post(
        "/api/jobs/", json={"title": "Build a fence", "description": "Kitengela", "budget": "900"}
    ).json()
    reference = job["escrow_contract_id"]
    assert app.control("pay-bill", {"account": reference, "amount": 900})["completed"]
    assert worker.post(f"/api/jobs/{job['id']}/apply/", json={}).status_code == 201
    boss.patch(f"/api/jobs/{job['id']}/", json={"employee": worker.user_id}).raise_for_status()
    assert boss.post(f"/api/jobs/{job['id']}/complete/").status_code == 200
    deadline = time.monotonic() + 30
    while (escrow := boss.get(f"/api/jobs/{job['id']}/").json()["escrow"])["status"] != "released":
        assert time.monotonic() < deadline, escrow
        time.sleep(0.2)
    return reference


def test_a_visitor_checks_a_released_escrow_on_its_public_proof_page(app, people, viewport):
    reference = released_escrow(app)
    typed = reference.removeprefix("ESCROW_").lower()
    typed = f"{typed[:4]} {typed[4:]}"  # as read aloud from a receipt: 7k3m 9qxa
    visitor = people("visitor", viewport=viewport)

    # From the footer's "Check an escrow" box on any page.
    visitor.open("/")
    visitor.type("reference", typed)
    visitor.click('footer button[type="submit"]')
    assert visitor.path == f"/e/{reference}/"
    assert visitor.testid("reference").text == reference
    hashes = [e.text for e in visitor.finds('[data-testid="tx-hash"]')]
    assert len(hashes) >= 3, hashes  # created and funded, assigned, released
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), hashes
    assert visitor.testid("escrow-released").text == "KES 900.00"
    assert visitor.testid("escrow-held").text == "KES 0.00"
    page = visitor.text()
    assert "Juma" not in page
    assert "Mwangi" not in page
    assert "+254" not in page
    visitor.check("proof")

    # Typed straight into the address bar, small letters, no prefix.
    visitor.open(f"/e/{reference.removeprefix('ESCROW_').lower()}/")
    assert [e.text for e in visitor.finds('[data-testid="tx-hash"]')] == hashes
    visitor.check("proof-typed-in-the-address")
    assert (
        Decimal(visitor.testid("escrow-amount").text.removeprefix("KES ").replace(",", "")) == 900
    )


test_a_visitor_checks_a_released_escrow_on_its_public_proof_page.folder = "3-public-proof"
