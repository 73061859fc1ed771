"""The Partner Hub: /partner/…"""

from django.urls import path

from api import pages as api_key_pages
from partners.views import clients, invoices, onboarding, overview, plan
from portal import company_pages, payment_pages

app_name = "partner"

urlpatterns = [
    path("", overview.overview, name="overview"),
    # Invoicing: the partner's own Partner Plan invoices
    path("invoices/", invoices.invoice_list, name="invoices"),
    path("invoices/<str:number>/", invoices.invoice_detail, name="invoice"),
    path("invoices/<str:number>/pdf/", invoices.invoice_pdf, name="invoice-pdf"),
    path("invoices/<str:number>/pay/", payment_pages.invoice_pay, name="invoice-pay"),
    path("payments/<int:attempt_id>/", payment_pages.payment_status, name="payment-status"),
    # Clients: usage and billing status, never their invoices
    path("clients/", clients.client_list, name="clients"),
    path("clients/onboard/", onboarding.client_onboard, name="client-onboard"),
    path("clients/<int:client_id>/", clients.client_detail, name="client"),
    path("plan/", plan.plan, name="plan"),
    # Settings
    path("billing-details/", company_pages.billing_details, name="billing-details"),
    path("payment-methods/", payment_pages.payment_methods, name="payment-methods"),
    path("payment-methods/add/", payment_pages.card_add, name="card-add"),
    path("payment-methods/added/", payment_pages.card_added, name="card-added"),
    path("payment-methods/voucher/", payment_pages.voucher_method_add, name="voucher-method-add"),
    path("payment-methods/order/", payment_pages.methods_reorder, name="methods-reorder"),
    path("payment-methods/<int:method_id>/remove/", payment_pages.method_remove, name="method-remove"),
    path("api-keys/", api_key_pages.api_keys, name="api-keys"),
    path("api-keys/<int:key_id>/revoke/", api_key_pages.api_key_revoke_page, name="api-key-revoke"),
]
