"""The ASGI application for instances that take Meta's webhooks (route /webhooks/meta/ to them): signed status
webhooks are stored by billing.webhooks_meta_asgi on the event loop, everything else is Django's ASGI handler.
Run: granian --interface asgi config.asgi_meta:application (README, "Production server")."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django_application = get_asgi_application()

from billing.webhooks_meta_asgi import MetaWebhookASGI  # noqa: E402  (needs the apps loaded above)
from ops.metrics import fast_path_answered  # noqa: E402

application = MetaWebhookASGI(django_application, on_answer=fast_path_answered)
gc.freeze()  # as config/wsgi.py: what is loaded lives as long as the process
