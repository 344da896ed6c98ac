from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyMoneyAdmin(admin.ModelAdmin):
    """Money only moves through the services, never by editing a row in admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]
