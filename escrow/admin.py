from django.contrib import admin

from escrow.models import EscrowContract, LedgerOperation
from kazi.admin_mixins import ReadOnlyMoneyAdmin


class LedgerOperationInline(admin.TabularInline):
    model = LedgerOperation
    extra = 0
    can_delete = False
    fields = ["kind", "amount", "status", "tx_hash", "attempts", "last_error", "created_at"]
    readonly_fields = fields


@admin.register(EscrowContract)
class EscrowContractAdmin(ReadOnlyMoneyAdmin):
    list_display = [
        "contract_id",
        "job_listing",
        "employer",
        "employee",
        "amount",
        "funded_amount",
        "released_amount",
        "status",
        "created_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["contract_id", "employer__phone_number", "employee__phone_number"]
    inlines = [LedgerOperationInline]


@admin.register(LedgerOperation)
class LedgerOperationAdmin(ReadOnlyMoneyAdmin):
    list_display = ["idempotency_key", "kind", "amount", "status", "attempts", "updated_at"]
    list_filter = ["status", "kind"]
    search_fields = ["idempotency_key", "escrow__contract_id", "tx_hash"]
