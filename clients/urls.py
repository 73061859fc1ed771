"""The Client Hub: /client/…"""

from django.urls import path

from clients.views import details, exports, funds, invoices, numbers, overview
from portal.party_urls import party_urlpatterns

app_name = "client"

urlpatterns = [
    path("", overview.overview, name="overview"),
    # Invoices
    path("invoices/", invoices.invoice_list, name="invoices"),
    path("invoices/download.csv", exports.invoice_list_csv, name="invoices-csv"),
    path("invoices/<str:number>/", invoices.invoice_detail, name="invoice"),
    path("invoices/<str:number>/pdf/", invoices.invoice_pdf, name="invoice-pdf"),
    path("invoices/<str:number>/xml/", invoices.invoice_xml, name="invoice-xml"),
    path("credit-notes/<str:number>/pdf/", invoices.credit_note_pdf, name="credit-note-pdf"),
    path("credit-notes/<str:number>/xml/", invoices.credit_note_xml, name="credit-note-xml"),
    # Funds
    path("funds/", funds.funds, name="funds"),
    path("funds/add/", funds.funds_add, name="funds-add"),
    path("funds/auto-renewal/", funds.auto_renewal, name="auto-renewal"),
    path("funds/monthly-prepayment/", funds.monthly_prepayment, name="monthly-prepayment"),
    path("funds/alerts/", funds.balance_alerts, name="balance-alerts"),
    path("funds/usage.csv", exports.usage_csv, name="usage-csv"),
    # Numbers
    path("numbers/", numbers.number_list, name="numbers"),
    path("numbers/onboard/", numbers.number_onboard, name="number-onboard"),
    path("numbers/<int:number_id>/delete/", numbers.number_delete, name="number-delete"),
    # Settings
    path("billing-details/", details.billing_details, name="billing-details"),
    *party_urlpatterns,
]
