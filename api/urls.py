from importlib.util import find_spec

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

import api.schema  # noqa: F401  (registers the Bearer scheme with drf-spectacular before any schema is built)
from api import client_apis, partner_apis

v1 = [
    # Client key
    path("invoices", client_apis.InvoiceList.as_view(), name="invoices"),
    path("invoices/<str:number>", client_apis.InvoiceDetail.as_view(), name="invoice"),
    path("invoices/<str:number>/pdf", client_apis.InvoicePdf.as_view(), name="invoice-pdf"),
    path("invoices/<str:number>/xml", client_apis.InvoiceXml.as_view(), name="invoice-xml"),
    path("credit-balances", client_apis.CreditBalanceList.as_view(), name="credit-balances"),
    path("ledger-entries", client_apis.LedgerEntryList.as_view(), name="ledger-entries"),
    path("usage", client_apis.UsageSummary.as_view(), name="usage"),
    path("numbers", client_apis.NumberList.as_view(), name="numbers"),
    path("numbers/<str:number_id>/deletion", client_apis.NumberDeletion.as_view(), name="number-deletion"),
    path("hubs/<str:hub_id>/top-ups", client_apis.TopUp.as_view(), name="top-ups"),
    # Partner key
    path("partner/invoices", partner_apis.PartnerInvoiceList.as_view(), name="partner-invoices"),
    path("partner/invoices/<str:number>", partner_apis.PartnerInvoiceDetail.as_view(), name="partner-invoice"),
    path("partner/invoices/<str:number>/pdf", partner_apis.PartnerInvoicePdf.as_view(), name="partner-invoice-pdf"),
    path("partner/invoices/<str:number>/xml", partner_apis.PartnerInvoiceXml.as_view(), name="partner-invoice-xml"),
    path("partner/clients", partner_apis.PartnerClientList.as_view(), name="partner-clients"),
    path("partner/clients/<str:client_id>", partner_apis.PartnerClientDetail.as_view(), name="partner-client"),
]
if find_spec("api.platform") is not None:  # the messaging platform's endpoints (service key), api/platform.py
    from api import platform

    if hasattr(platform, "usage_events"):
        v1 += [
            path("usage-events", platform.usage_events, name="usage-events"),
            path("hubs/<str:hub_id>/send-permission", platform.send_permission, name="send-permission"),
            path("send-permissions", platform.send_permissions_feed, name="send-permissions"),
        ]

urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's bootstrap as a script of its own (?script): nothing inline, for the CSP.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
]
