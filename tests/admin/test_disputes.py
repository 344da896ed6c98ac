"""The dispute queue: open disputes oldest first, both sides' messages, and a Resolve form for
arbiters that goes through escrow.workflows.job_resolve (the API's service): a split that does not
add up is refused with a message and writes nothing; staff without the permission cannot
resolve."""

from datetime import timedelta

import pytest
from django.urls import reverse

from escrow.models import Dispute, DisputeMessage, LedgerOperation
from jobs.models import JobListing
from notifications.models import Notification
from payouts.models import MobileMoneyPayout
from tests.admin.conftest import messages_of, result_count, text
from tests.api.helpers import apply_and_assign, pay, post_job, row_counts

QUEUE = "/admin/escrow/dispute/"


def disputed_job(api, employer, employee, reason: str, budget: str = "1500.00") -> dict:
    job = post_job(api, employer, budget)
    pay(api, job, trans_id=f"RKTQDM{job['id']:04d}")
    apply_and_assign(api, employer, employee, job)
    response = api.as_user(employer).post(f"/api/jobs/{job['id']}/dispute/", {"reason": reason})
    assert response.status_code == 200, response.content
    return job


@pytest.fixture
def dispute(api, employer, employee) -> Dispute:
    job = disputed_job(api, employer, employee, "Only one of the two rooms was painted.")
    messages = f"/api/jobs/{job['id']}/dispute/messages/"
    api.as_user(employer).post(messages, {"text": "The bedroom is untouched."})
    api.as_user(employee).post(messages, {"text": "The paint for it never came."})
    return Dispute.objects.get(escrow__job_listing_id=job["id"])


def test_the_queue_lists_open_disputes_oldest_first(
    api, admin_client, arbiter, employer, employee, dispute
):
    from tests.factories import EmployeeFactory, EmployerFactory

    newer_job = disputed_job(api, EmployerFactory(), EmployeeFactory(), "Never came.", "900.00")
    Dispute.objects.filter(pk=dispute.pk).update(created_at=dispute.created_at - timedelta(days=3))
    settled_job = disputed_job(api, EmployerFactory(), EmployeeFactory(), "Late.", "700.00")
    Dispute.objects.filter(escrow__job_listing_id=settled_job["id"]).update(
        resolved_at=dispute.created_at
    )

    page = admin_client.as_user(arbiter).get(QUEUE)
    assert page.status_code == 200
    shown = [d.escrow.contract_id for d in page.context["cl"].result_list]
    assert shown == [dispute.escrow.contract_id, newer_job["escrow_contract_id"]]  # open only
    row = text(page)
    assert dispute.escrow.job_listing.title in row
    assert "KES 1,500.00" in row  # held
    assert "KES 900.00" in row
    assert f"{employer} (employer)" in row
    assert "Only one of the two rooms was painted." in row
    assert "3 days" in row  # its age
    assert row.count("Resolve…") == 2
    assert 'value="resolve"' in page.content.decode()  # the action, for arbiters

    assert result_count(admin_client.get(QUEUE, {"state": "resolved"})) == 1
    assert result_count(admin_client.get(QUEUE, {"state": "all"})) == 3


def test_a_dispute_shows_both_sides_messages_read_only(admin_client, arbiter, dispute):
    page = admin_client.as_user(arbiter).get(
        reverse("admin:escrow_dispute_change", args=[dispute.pk])
    )
    shown = text(page)
    assert "employer The bedroom is untouched." in shown
    assert "worker The paint for it never came." in shown
    assert 'name="messages-0-text"' not in page.content.decode()  # not a form field
    assert reverse("admin:escrow_dispute_resolve", args=[dispute.pk]) in page.content.decode()


def test_the_resolve_form_suggests_half_each_and_resolves(
    api, admin_client, arbiter, employer, employee, dispute, sms
):
    url = reverse("admin:escrow_dispute_resolve", args=[dispute.pk])
    form = admin_client.as_user(arbiter).get(url)
    assert form.status_code == 200
    assert form.context["form"].initial == {"to_employee": 750, "to_employer": 750}
    assert "KES 1,500.00" in text(form)
    assert "The paint for it never came." in text(form)

    response = admin_client.post(
        url, {"to_employee": "900.00", "to_employer": "600.00", "note": "Half done."}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse(
        "admin:escrow_dispute_change", args=[dispute.pk]
    )
    assert messages_of(response) == [
        f"The dispute over {dispute.escrow} is resolved: KES 900.00 to the worker, KES 600.00 "
        "back to the employer. Each share is paid out once the ledger confirms the split."
    ]
    dispute.refresh_from_db()
    assert (dispute.resolved_by, dispute.to_employee, dispute.to_employer, dispute.note) == (
        arbiter,
        900,
        600,
        "Half done.",
    )
    assert JobListing.objects.get(pk=dispute.escrow.job_listing_id).status == "resolved"
    assert LedgerOperation.objects.get(kind="resolve").status == "succeeded"
    payouts = {
        (p.kind, p.recipient, p.paid_to, p.amount)
        for p in MobileMoneyPayout.objects.filter(escrow_contract=dispute.escrow)
    }
    assert payouts == {
        ("dispute_share", "employee", employee, 900),
        ("dispute_share", "employer", employer, 600),
    }
    assert Notification.objects.filter(event="dispute_resolved").count() == 2

    # Sent again (a second click): refused, nothing more written.
    before = row_counts()
    again = admin_client.post(url, {"to_employee": "900.00", "to_employer": "600.00"}, follow=True)
    assert messages_of(again) == [f"The dispute over {dispute.escrow} is resolved."]
    assert row_counts() == before
    assert MobileMoneyPayout.objects.count() == 2


@pytest.mark.parametrize(
    ("to_employee", "to_employer"),
    [("900.00", "600.01"), ("1500.00", "100.00"), ("0.00", "1499.00")],
)
def test_a_split_that_does_not_add_up_is_refused_and_writes_nothing(
    admin_client, arbiter, dispute, to_employee, to_employer
):
    url = reverse("admin:escrow_dispute_resolve", args=[dispute.pk])
    before = row_counts()
    response = admin_client.as_user(arbiter).post(
        url, {"to_employee": to_employee, "to_employer": to_employer}
    )
    assert response.status_code == 200  # the form again, with what was typed
    assert messages_of(response) == [
        "The shares must be zero or more and add up to KES 1500.00, what the escrow holds."
    ]
    assert response.context["form"].data["to_employer"] == to_employer
    assert row_counts() == before
    dispute.refresh_from_db()
    assert dispute.is_open
    assert dispute.escrow.status == "disputed"
    assert not LedgerOperation.objects.filter(kind="resolve").exists()


def test_a_negative_share_is_a_form_error(admin_client, arbiter, dispute):
    url = reverse("admin:escrow_dispute_resolve", args=[dispute.pk])
    response = admin_client.as_user(arbiter).post(
        url, {"to_employee": "-1.00", "to_employer": "1501.00"}
    )
    assert response.status_code == 200
    assert "to_employee" in response.context["form"].errors
    assert Dispute.objects.get(pk=dispute.pk).is_open


def test_staff_without_the_arbiter_permission_cannot_resolve(admin_client, clerk, dispute):
    admin_client.as_user(clerk)
    queue = admin_client.get(QUEUE)
    assert queue.status_code == 200  # they may look
    assert result_count(queue) == 1
    assert "Resolve…" not in text(queue)
    assert 'value="resolve"' not in queue.content.decode()
    page = admin_client.get(reverse("admin:escrow_dispute_change", args=[dispute.pk]))
    assert "/resolve/" not in page.content.decode()

    url = reverse("admin:escrow_dispute_resolve", args=[dispute.pk])
    before = row_counts()
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"to_employee": "750", "to_employer": "750"}).status_code == 403
    # nor through the action
    admin_client.action(QUEUE, "resolve", [dispute])
    assert row_counts() == before
    assert Dispute.objects.get(pk=dispute.pk).is_open
    assert DisputeMessage.objects.count() == 2


def test_the_action_opens_the_form_for_one_dispute(admin_client, arbiter, dispute):
    response = admin_client.as_user(arbiter).action(QUEUE, "resolve", [dispute])
    assert response.redirect_chain[-1][0] == reverse(
        "admin:escrow_dispute_resolve", args=[dispute.pk]
    )
