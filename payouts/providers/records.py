from django.utils import timezone

from payouts.models import MobileMoneyPayout


class PayoutRequestRecords:
    """The provider's ids for a payout's request, kept on the payout row. Adapters save them
    during `payout_send`, which runs outside any transaction, so they are committed before the
    call that can move money is made."""

    def get(self, reference: str) -> dict[str, str]:
        found = MobileMoneyPayout.objects.filter(reference=reference)
        return found.values_list("provider_request", flat=True).first() or {}

    def save(self, reference: str, record: dict[str, str]) -> None:
        MobileMoneyPayout.objects.filter(reference=reference).update(
            provider_request=record, updated_at=timezone.now()
        )
