"""The Partner Hub: /partner/…"""

from django.urls import path

from partners.views import clients, invoices, onboarding, overview, plan, webhooks
from portal import company_pages, payment_pages
from portal.party_urls import party_urlpatterns

app_name = "partner"

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("risk-digest/", overview.risk_digest, name="risk-digest"),
    # Invoicing: the partner's own Partner Plan invoices
    path("invoices/", invoices.invoice_list, name="invoices"),
    path("invoices/<str:number>/", invoices.invoice_detail, name="invoice"),
    path("invoices/<str:number>/pdf/", invoices.invoice_pdf, name="invoice-pdf"),
    path("invoices/<str:number>/xml/", invoices.invoice_xml, name="invoice-xml"),
    path("credit-notes/<str:number>/pdf/", invoices.credit_note_pdf, name="credit-note-pdf"),
    path("credit-notes/<str:number>/xml/", invoices.credit_note_xml, name="credit-note-xml"),
    # Clients: usage and billing status, never their invoices
    path("clients/", clients.client_list, name="clients"),
    path("clients/onboard/", onboarding.client_onboard, name="client-onboard"),
    path("clients/<int:client_id>/", clients.client_detail, name="client"),
    path("plan/", plan.plan, name="plan"),
    # Webhooks: signed events about the partner's clients (owner only)
    path("webhooks/", webhooks.webhook_list, name="webhooks"),
    path("webhooks/<int:endpoint_id>/test/", webhooks.webhook_test, name="webhook-test"),
    path("webhooks/<int:endpoint_id>/remove/", webhooks.webhook_remove, name="webhook-remove"),
    # Settings
    path("billing-details/", company_pages.billing_details, name="billing-details"),
    path("payment-methods/voucher/", payment_pages.voucher_method_add, name="voucher-method-add"),
    *party_urlpatterns,
]
