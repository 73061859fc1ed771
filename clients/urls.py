"""The Client Hub: /client/…"""

from django.urls import path

from api import pages as api_key_pages
from clients.views import details, funds, invoices, numbers, overview
from portal import payment_pages

app_name = "client"

urlpatterns = [
    path("", overview.overview, name="overview"),
    # Invoices
    path("invoices/", invoices.invoice_list, name="invoices"),
    path("invoices/<str:number>/", invoices.invoice_detail, name="invoice"),
    path("invoices/<str:number>/pdf/", invoices.invoice_pdf, name="invoice-pdf"),
    path("invoices/<str:number>/pay/", payment_pages.invoice_pay, name="invoice-pay"),
    path("payments/<int:attempt_id>/", payment_pages.payment_status, name="payment-status"),
    # Funds
    path("funds/", funds.funds, name="funds"),
    path("funds/add/", funds.funds_add, name="funds-add"),
    path("funds/auto-renewal/", funds.auto_renewal, name="auto-renewal"),
    path("funds/monthly-prepayment/", funds.monthly_prepayment, name="monthly-prepayment"),
    # Numbers
    path("numbers/", numbers.number_list, name="numbers"),
    path("numbers/onboard/", numbers.number_onboard, name="number-onboard"),
    path("numbers/<int:number_id>/delete/", numbers.number_delete, name="number-delete"),
    # Settings
    path("billing-details/", details.billing_details, name="billing-details"),
    path("payment-methods/", payment_pages.payment_methods, name="payment-methods"),
    path("payment-methods/add/", payment_pages.card_add, name="card-add"),
    path("payment-methods/added/", payment_pages.card_added, name="card-added"),
    path("payment-methods/order/", payment_pages.methods_reorder, name="methods-reorder"),
    path("payment-methods/<int:method_id>/remove/", payment_pages.method_remove, name="method-remove"),
    path("api-keys/", api_key_pages.api_keys, name="api-keys"),
    path("api-keys/<int:key_id>/revoke/", api_key_pages.api_key_revoke_page, name="api-key-revoke"),
]
