from decimal import Decimal

from accounts.models import User
from escrow import workflows
from jobs import services as jobs
from jobs.models import JobListing
from payouts.models import MobileMoneyPayout
from tests.conftest import assert_books_balance
from tests.factories import EmployerFactory


def register(dialer, first="Otieno", last="Odhiambo", role="2", pin="4821", lang="1"):
    assert "Choose language" in dialer.dial()
    dialer.press(lang)
    dialer.press(first)
    dialer.press(last)
    dialer.press(role)
    dialer.press(pin)
    return dialer.press(pin)


def test_a_new_worker_registers_in_swahili(phone):
    answer = register(phone("0722000111"), lang="2")
    assert answer == "END Umesajiliwa, Otieno. Piga tena kuanza."
    user = User.objects.get(phone_number="+254722000111")
    assert (user.user_type, user.language, user.has_usable_password()) == ("employee", "sw", False)
    assert user.check_ussd_pin("4821")
    assert "4821" not in user.ussd_pin


def test_pins_must_match_and_be_four_digits(phone):
    dialer = phone()
    dialer.dial()
    for value in ("1", "Wanjiku", "Kamau", "1"):
        dialer.press(value)
    assert "4 digits" in dialer.press("12")
    dialer.press("1234")
    assert "differ" in dialer.press("4321")
    dialer.press("1111")
    assert dialer.press("1111").startswith("END Registered")
    assert User.objects.get().user_type == "employer"


def test_bad_names_are_asked_again(phone):
    dialer = phone()
    dialer.dial()
    dialer.press("1")
    assert "letters" in dialer.press("12345")
    assert "last name" in dialer.press("Wanjiku")


def test_worker_finds_work_applies_is_paid_and_sees_it(phone, django_capture_on_commit_callbacks):
    employer = EmployerFactory()
    job = workflows.job_create(
        employer=employer,
        title="Paint a two-room house in Kasarani",
        description="d",
        budget=Decimal("1500.00"),
    )
    worker_phone = phone("0722000111")
    register(worker_phone)
    worker = User.objects.get(phone_number="+254722000111")

    assert worker_phone.dial().startswith("CON Kazi Trust\n1. Find work")
    listing = worker_phone.press("1")
    assert "Paint a two-room" in listing
    assert "KES 1500.00" in worker_phone.press("1")
    assert worker_phone.press("1") == "END You applied. The employer will choose."

    from mpesa.deposits import ReceivedPayment, deposit_record

    with django_capture_on_commit_callbacks(execute=True):
        deposit_record(
            payment=ReceivedPayment(
                "RKTQDM7W6S", Decimal("1500.00"), job.escrow.contract_id, "", "", ""
            ),
            callback=None,
        )
        workflows.job_assign(job_id=job.pk, employee_id=worker.pk)
        workflows.job_complete(job_id=job.pk)
    worker_phone.dial()
    assert "1. Paint a two-room … (done)" in worker_phone.press("2")
    worker_phone.press("0")
    payments = worker_phone.press("3")
    assert payments.startswith("END KES 1500.00 done")
    assert MobileMoneyPayout.objects.get().paid_to == worker
    assert_books_balance()


def test_employer_assigns_and_releases_with_pin(phone, django_capture_on_commit_callbacks):
    boss = phone("0712345678")
    register(boss, first="Wanjiku", last="Kamau", role="1", pin="2580")
    employer = User.objects.get(phone_number="+254712345678")
    job = workflows.job_create(
        employer=employer, title="Fix a roof", description="d", budget=Decimal("2000.00")
    )
    worker = User.objects.create_user(
        "+254722000111", None, user_type="employee", first_name="Otieno", last_name="Odhiambo"
    )
    jobs.job_apply(job_id=job.pk, employee=worker)

    boss.dial()
    assert "1. Fix a roof (open)" in boss.press("1")
    detail = boss.press("1")
    assert "Paid in: KES 0.00/2000.00" in detail
    how = boss.press("1")
    assert "Business no: 600000" in how
    assert job.escrow.contract_id in how

    boss.dial()
    boss.press("1")
    boss.press("1")
    assert "1. Otieno Odhiambo" in boss.press("3")
    assert "Give this job to Otieno" in boss.press("1")
    assert boss.press("1") == "END Otieno Odhiambo now has the job."

    from mpesa.deposits import ReceivedPayment, deposit_record

    with django_capture_on_commit_callbacks(execute=True):
        deposit_record(
            payment=ReceivedPayment(
                "RKTQDM7W6S", Decimal("2000.00"), job.escrow.contract_id, "", "", ""
            ),
            callback=None,
        )
    boss.dial()
    boss.press("1")
    in_progress = boss.press("1")
    assert "KES 2000.00 is held until you confirm the work is done" in in_progress
    assert "1. Work done: pay worker\n2. Dispute" in in_progress
    assert "Enter your PIN to pay KES 2000.00 to Otieno" in boss.press("1")
    assert "Wrong PIN. 2 tries left" in boss.press("1111")
    with django_capture_on_commit_callbacks(execute=True):
        done = boss.press("2580")
    assert done == "END Done. KES 2000.00 is on its way to Otieno Odhiambo."
    assert JobListing.objects.get().status == "completed"
    assert MobileMoneyPayout.objects.get().status == "completed"


def test_three_wrong_pins_lock_for_thirty_minutes(phone):
    dialer = phone()
    register(dialer, role="1", pin="2580")
    dialer.dial()
    dialer.press("2")
    dialer.press("2")
    dialer.press("0000")
    dialer.press("0001")
    locked = "END Too many wrong PINs. Try again in 30 minutes, or reset it: Settings > 3."
    assert dialer.press("0002") == locked
    dialer.dial()
    dialer.press("2")
    dialer.press("2")
    assert dialer.press("2580") == locked  # even the right PIN, while locked


def test_change_pin_and_language(phone):
    dialer = phone()
    register(dialer, role="1", pin="2580")
    dialer.dial()
    dialer.press("2")
    dialer.press("2")
    dialer.press("2580")
    dialer.press("9753")
    assert dialer.press("9753") == "END PIN changed."
    assert User.objects.get().check_ussd_pin("9753")
    dialer.dial()
    dialer.press("2")
    dialer.press("1")
    assert dialer.press("2") == "END Lugha imehifadhiwa."
    assert dialer.dial().startswith("CON Kazi Trust\n1. Kazi zangu")


def test_back_and_home(phone):
    dialer = phone()
    register(dialer, role="1")
    dialer.dial()
    assert "No jobs yet" in dialer.press("1")
    assert dialer.press("0").startswith("CON Kazi Trust")
    dialer.press("2")
    assert dialer.press("00").startswith("CON Kazi Trust")


def test_nonsense_is_answered_helpfully(phone):
    dialer = phone()
    register(dialer, role="2")
    dialer.dial()
    for junk in ("", "99", "abc", "1" * 150, "-1", "*"):
        answer = dialer.press(junk)
        assert answer.startswith("CON "), answer
    assert User.objects.count() == 1


def test_bad_requests_end_politely(client, db):
    for data in (
        {"sessionId": "x", "phoneNumber": "+15555550100", "text": ""},
        {"sessionId": "", "phoneNumber": "+254722000111", "text": ""},
        {"sessionId": "x", "phoneNumber": "+254722000111", "text": "1*" * 300},
        {},
    ):
        response = client.post("/api/ussd/", data)
        assert response.status_code == 200
        assert response.content.decode().startswith("END ")
    assert User.objects.count() == 0


def test_employer_pays_by_stk_prompt_from_ussd(phone, daraja, django_capture_on_commit_callbacks):
    boss = phone("0712345678")
    register(boss, first="Wanjiku", last="Kamau", role="1", pin="2580")
    employer = User.objects.get()
    job = workflows.job_create(
        employer=employer, title="Fix a roof", description="d", budget=Decimal("2000.00")
    )
    boss.dial()
    boss.press("1")
    boss.press("1")
    with django_capture_on_commit_callbacks(execute=True):
        answer = boss.press("2")
    assert answer == "END Check your phone: enter your M-Pesa PIN to pay KES 2000.00."
    path, sent = daraja.requests[-1]
    assert (path, sent["PhoneNumber"]) == ("/mpesa/stkpush/v1/processrequest", "254712345678")
    job.escrow.refresh_from_db()
    assert job.escrow.status == "funded"


def test_a_repeated_request_is_answered_again_not_applied_twice(phone):
    dialer = phone()
    dialer.dial()
    dialer.press("1")
    first = dialer.press("Wanjiku")
    assert dialer._send() == first  # the gateway resends "1*Wanjiku"
    assert "last name" in first
    assert "You are" in dialer.press("Kamau")
    assert "You are" in dialer._send()  # again: still the role question, nothing skipped
