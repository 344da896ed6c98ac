"""Money back from the admin: unmatched deposits paid back to a phone once, failed payouts
(refunds included) retried as new attempts, failed notifications sent again; money rows stay
read only."""

import pytest
from django.urls import reverse

from mpesa.models import MpesaDeposit
from notifications.models import NotificationDelivery
from payouts.models import MobileMoneyPayout
from tests.admin.conftest import messages_of, text
from tests.api.helpers import CALLBACK, pay, post_job
from tests.conftest import c2b_payload

DEPOSITS = "/admin/mpesa/mpesadeposit/"
PAYOUTS = "/admin/payouts/mobilemoneypayout/"
DELIVERIES = "/admin/notifications/notificationdelivery/"


@pytest.fixture
def unmatched(api) -> MpesaDeposit:
    payload = c2b_payload("ESCROW_NOBODY00", "700.00", "RKTQDM0005")
    assert api.anonymous().post(CALLBACK, payload).status_code == 200
    deposit = MpesaDeposit.objects.get(transaction_reference="RKTQDM0005")
    assert deposit.is_unmatched
    return deposit


def test_unmatched_money_is_paid_back_to_the_phone_given_once(
    admin_client, superuser, unmatched, daraja
):
    admin_client.as_user(superuser)
    form = admin_client.action(DEPOSITS, "pay_back", [unmatched])
    assert form.status_code == 200
    assert "Pay back to a phone" in text(form)
    assert "RKTQDM0005" in text(form)
    assert MobileMoneyPayout.objects.count() == 0  # asked first

    wrong = admin_client.action(DEPOSITS, "pay_back", [unmatched], apply="1", phone_number="12")
    assert "phone_number" in wrong.context["form"].errors
    assert MobileMoneyPayout.objects.count() == 0

    for _ in range(2):  # submitted twice
        done = admin_client.action(
            DEPOSITS, "pay_back", [unmatched], apply="1", phone_number="0712 345 678"
        )
    payout = MobileMoneyPayout.objects.get()
    assert (payout.reference, payout.phone_number, payout.amount) == (
        "RETURN_RKTQDM0005",
        "+254712345678",
        700,
    )
    assert (payout.kind, payout.recipient, payout.deposit) == ("surplus", "employer", unmatched)
    assert payout.status == "completed"  # sent by M-Pesa B2C through the sandbox
    assert messages_of(done) == ["RKTQDM0005 is being returned already."]
    assert len(daraja.sent("/mpesa/b2c/v3/paymentrequest")) == 1


def test_money_credited_to_an_escrow_is_not_paid_back_this_way(
    api, admin_client, superuser, employer
):
    job = post_job(api, employer)
    pay(api, job)
    deposit = MpesaDeposit.objects.get()
    response = admin_client.as_user(superuser).action(
        DEPOSITS, "pay_back", [deposit], apply="1", phone_number="+254712345678"
    )
    assert messages_of(response) == ["RKTQDM7W6S was credited to an escrow."]
    assert MobileMoneyPayout.objects.count() == 0


def test_a_failed_refund_is_retried_as_a_new_attempt(
    api, admin_client, superuser, employer, daraja
):
    job = post_job(api, employer)
    pay(api, job)
    daraja.faults.b2c_reject = 1
    assert api.as_user(employer).post(f"/api/jobs/{job['id']}/cancel/").status_code == 200
    failed = MobileMoneyPayout.objects.get()
    assert (failed.kind, failed.recipient, failed.status) == ("refund", "employer", "failed")

    response = admin_client.as_user(superuser).action(PAYOUTS, "retry", [failed])
    retry = MobileMoneyPayout.objects.get(retry_of=failed)
    assert messages_of(response) == [f"{failed.reference}: retried as {failed.reference}-R2."]
    assert (retry.kind, retry.recipient, retry.paid_to) == ("refund", "employer", employer)
    assert (retry.phone_number, retry.amount, retry.status) == (
        employer.phone_number,
        failed.amount,
        "completed",
    )
    sent = [b["OriginatorConversationID"] for b in daraja.sent("/mpesa/b2c/v3/paymentrequest")]
    assert sent == [failed.reference, retry.reference]

    again = admin_client.action(PAYOUTS, "retry", [failed, retry])
    assert sorted(messages_of(again)) == [
        f"{failed.reference} has been retried already.",
        f"{retry.reference} is completed; only failed payouts are retried.",
    ]
    assert MobileMoneyPayout.objects.count() == 2


def test_a_failed_notification_is_sent_again(api, admin_client, superuser, employer, sms):
    def gateway_down(**_):
        raise OSError("SMS gateway unreachable")

    send = sms.send
    sms.send = gateway_down
    job = post_job(api, employer)
    pay(api, job)
    sms.send = send
    failed = NotificationDelivery.objects.get(status="failed")
    assert failed.last_error == "SMS gateway unreachable"

    response = admin_client.as_user(superuser).action(DELIVERIES, "send_again", [failed])
    assert messages_of(response) == ["1 delivery(ies) sent again."]
    failed.refresh_from_db()
    assert failed.status == "sent"
    assert [phone for phone, _ in sms.sent] == [employer.phone_number]

    again = admin_client.action(DELIVERIES, "send_again", [failed])
    assert messages_of(again) == [
        "0 delivery(ies) sent again.",
        "1 left alone: only failed deliveries are sent again.",
    ]
    assert len(sms.sent) == 1


def test_staff_who_may_only_look_move_no_money(admin_client, clerk, unmatched):
    admin_client.as_user(clerk)
    for changelist in (DEPOSITS, PAYOUTS, DELIVERIES):
        page = admin_client.get(changelist)
        assert page.status_code == 200
        assert 'name="action"' not in page.content.decode()  # no actions offered
    admin_client.action(DEPOSITS, "pay_back", [unmatched], apply="1", phone_number="0712345678")
    assert MobileMoneyPayout.objects.count() == 0


@pytest.mark.parametrize(
    "model", ["escrow/dispute", "notifications/notification", "notifications/notificationdelivery"]
)
def test_the_new_lists_open(admin_client, superuser, model):
    app_label, model_name = model.split("/")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    assert admin_client.as_user(superuser).get(url).status_code == 200


def test_money_rows_cannot_be_edited_in_the_admin(admin_client, superuser, unmatched):
    url = reverse("admin:mpesa_mpesadeposit_change", args=[unmatched.pk])
    admin_client.as_user(superuser).post(url, {"amount": "1.00", "bill_ref_number": "X"})
    unmatched.refresh_from_db()
    assert (unmatched.amount, unmatched.bill_ref_number) == (700, "ESCROW_NOBODY00")
    for model in ("mpesa_mpesadeposit", "escrow_dispute", "notifications_notification"):
        assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403


def test_a_failed_return_of_unmatched_money_is_retried_to_the_same_phone(
    admin_client, superuser, unmatched, daraja
):
    daraja.faults.b2c_reject = 1
    admin_client.as_user(superuser).action(
        DEPOSITS, "pay_back", [unmatched], apply="1", phone_number="254712345678"
    )
    failed = MobileMoneyPayout.objects.get()
    assert (failed.reference, failed.status, failed.paid_to) == (
        "RETURN_RKTQDM0005",
        "failed",
        None,
    )
    admin_client.action(PAYOUTS, "retry", [failed])
    retry = MobileMoneyPayout.objects.get(retry_of=failed)
    assert (retry.reference, retry.phone_number, retry.deposit, retry.status) == (
        "RETURN_RKTQDM0005-R2",
        "+254712345678",
        unmatched,
        "completed",
    )
