from django.contrib import admin, messages

from api.keys import api_key_create, api_key_revoke
from api.models import ApiKey, ApiKeyKind


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Staff create the messaging platform's service key here; client and partner keys are made in their hubs."""

    list_display = ("name", "kind", "client", "partner", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "client__company_name", "partner__name")
    fields = ("name",)
    readonly_fields = ()
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        key, plaintext = api_key_create(name=obj.name, created_by=request.user)
        obj.pk = key.pk
        messages.warning(request, f"Service key created. Copy it now, it is not shown again: {plaintext}")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key, revoked_by=request.user)
        self.message_user(request, "Revoked.")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("client", "partner")


__all__ = ["ApiKeyAdmin", "ApiKeyKind"]
