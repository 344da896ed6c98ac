"""The admin site: Django's, with the money picture on its front page (kazi.admin_picture), each
number a link to the admin list it counts. Installed by KaziAdminConfig in place of
"django.contrib.admin", so every `admin.register` in the apps lands here.

This module is imported while the apps load: models only inside functions."""

from dataclasses import dataclass, field

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.timesince import timesince

from kazi.money import kes_shown


@dataclass
class Line:
    label: str
    count: int
    amount: str | None = None
    url: str = ""
    note: str = ""
    alarm: bool = False  # something waits for a person
    parts: list["Line"] = field(default_factory=list)


class KaziAdminSite(admin.AdminSite):
    site_header = "Kazi Trust administration"
    site_title = "Kazi Trust admin"
    index_title = "Money and queues"
    index_template = "kazi_admin/index.html"

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        return super().index(
            request, {"money_picture": self.money_lines(request), **(extra_context or {})}
        )

    def money_lines(self, request: HttpRequest) -> list[Line]:
        """The picture as lines of the front page, each shown to those who may open its list."""
        from escrow.models import Dispute, EscrowContract, LedgerOperation
        from kazi.admin_picture import Figure, money_picture
        from mpesa.models import MpesaDeposit
        from notifications.models import NotificationDelivery
        from payouts.models import MobileMoneyPayout

        picture = money_picture()

        def line(
            label: str, figure: Figure, model: type, query: dict, **kwargs: object
        ) -> Line | None:
            model_admin = self._registry.get(model)
            if model_admin is None or not model_admin.has_view_permission(request):
                return None
            opts = model._meta
            url = reverse(f"{self.name}:{opts.app_label}_{opts.model_name}_changelist")
            return Line(
                label=label,
                count=figure.count,
                amount=None if figure.amount is None else kes_shown(figure.amount),
                url=f"{url}?{urlencode(query)}",
                **kwargs,
            )

        def unpaid(kind: str) -> dict:
            return {"kind__exact": kind, "recipient__exact": "employer", "progress": "unpaid"}

        owed_parts = [
            line("Refunds", picture.owed_refunds, MobileMoneyPayout, unpaid("refund")),
            line(
                "Overpayments and unmatched money, by payout",
                picture.owed_surpluses,
                MobileMoneyPayout,
                unpaid("surplus"),
            ),
            line(
                "Employers' dispute shares",
                picture.owed_dispute_shares,
                MobileMoneyPayout,
                unpaid("dispute_share"),
            ),
            line(
                "Overpayments and unmatched money not yet returned",
                picture.owed_not_returned,
                MpesaDeposit,
                {"returned": "no"},
            ),
            line(
                "Refunds and employers' shares waiting for the ledger",
                picture.owed_before_ledger,
                EscrowContract,
                {"money": "owed_back"},
                note="paid out once the ledger confirms the money left the escrow",
            ),
        ]
        owed_parts = [part for part in owed_parts if part]
        owed = picture.owed_back
        since = picture.oldest_open_dispute
        lines = [
            line(
                "Held in escrow",
                picture.held,
                EscrowContract,
                {"money": "held"},
                note="escrows holding money",
            ),
            Line(
                "Owed back, not yet sent",
                owed.count,
                kes_shown(owed.amount),
                note="pending, processing or failed payouts, and money not yet returned",
                parts=owed_parts,
            )
            if owed_parts
            else None,
            line(
                "Unmatched deposits",
                picture.unmatched,
                MpesaDeposit,
                {"matched": "no", "returned": "no"},
                note="money for no escrow, not yet returned",
                alarm=picture.unmatched.count > 0,
            ),
            line(
                "Failed ledger operations",
                picture.failed_ledger_operations,
                LedgerOperation,
                {"status__exact": "failed"},
                note="each blocks its escrow until retried",
                alarm=picture.failed_ledger_operations.count > 0,
            ),
            line(
                "Failed payouts",
                picture.failed_payouts,
                MobileMoneyPayout,
                {"progress": "failed"},
                note="not retried yet",
                alarm=picture.failed_payouts.count > 0,
            ),
            line(
                "Failed notification deliveries",
                picture.failed_deliveries,
                NotificationDelivery,
                {"status__exact": "failed"},
                alarm=picture.failed_deliveries.count > 0,
            ),
            line(
                "Open disputes",
                picture.open_disputes,
                Dispute,
                {"state": "open"},
                note=f"oldest raised {timesince(since, timezone.now())} ago" if since else "",
                alarm=picture.open_disputes.count > 0,
            ),
        ]
        return [shown for shown in lines if shown]


class KaziAdminConfig(AdminConfig):
    """django.contrib.admin with KaziAdminSite as `admin.site`."""

    default_site = "kazi.admin_site.KaziAdminSite"
