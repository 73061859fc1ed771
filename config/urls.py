from django.contrib import admin
from django.urls import include, path

from billing.webhooks import stripe_webhook
from billing.webhooks_meta import meta_webhook
from ops.metrics import metrics_view

urlpatterns = [
    path("", include("portal.urls")),
    path("client/", include("clients.urls")),
    path("partner/", include("partners.urls")),
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    path("metrics", metrics_view, name="metrics"),
    path("webhooks/meta/", meta_webhook, name="meta-webhook"),
]

handler404 = "api.errors.not_found"
