"""Routes both hubs have, served by party-generic views (the view takes the party from the signed-in membership):
paying an invoice, payment methods and API keys. clients/urls.py and partners/urls.py add them to their own maps,
so each hub's namespace (`client:…`, `partner:…`) has the same names."""

from django.urls import path

from portal import key_pages as api_key_pages
from portal import payment_pages

party_urlpatterns = [
    path("invoices/<str:number>/pay/", payment_pages.invoice_pay, name="invoice-pay"),
    path("payments/<int:attempt_id>/", payment_pages.payment_status, name="payment-status"),
    path("payment-methods/", payment_pages.payment_methods, name="payment-methods"),
    path("payment-methods/add/", payment_pages.card_add, name="card-add"),
    path("payment-methods/added/", payment_pages.card_added, name="card-added"),
    path("payment-methods/order/", payment_pages.methods_reorder, name="methods-reorder"),
    path("payment-methods/<int:method_id>/remove/", payment_pages.method_remove, name="method-remove"),
    path("api-keys/", api_key_pages.api_keys, name="api-keys"),
    path("api-keys/<int:key_id>/revoke/", api_key_pages.api_key_revoke_page, name="api-key-revoke"),
]
