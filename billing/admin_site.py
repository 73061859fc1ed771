"""The admin site: Django's, with the billing dashboard on its index page for staff who may read invoices."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class BillingAdminSite(admin.AdminSite):
    index_template = "admin/index.html"

    def index(self, request, extra_context=None):
        from billing.dashboard import billing_dashboard

        extra_context = dict(extra_context or {})
        if request.user.has_perm("billing.view_invoice"):
            extra_context["dashboard"] = billing_dashboard()
        return super().index(request, extra_context)


class BillingAdminConfig(AdminConfig):
    """django.contrib.admin with the billing dashboard as its index page (INSTALLED_APPS names this instead)."""

    default_site = "billing.admin_site.BillingAdminSite"
