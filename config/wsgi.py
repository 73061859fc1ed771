import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()

# The messaging platform asks "may this hub send?" thousands of times a second: a request whose service key, hub
# and answer are all cached is answered before Django's middleware and DRF (api/platform.py says what it repeats
# and when it steps aside); every other request goes to Django unchanged.
# Meta's signed status webhooks (one per message status) are stored with one INSERT the same way
# (billing/webhooks_meta.py): a valid signature is stored and acknowledged, anything else is the view's.
from api.platform import SendPermissionFastPath  # noqa: E402  (needs the apps loaded above)
from billing.webhooks_meta import MetaWebhookFastPath  # noqa: E402
from ops.metrics import fast_path_answered  # noqa: E402

# Both fast paths count what they answer in the HTTP request metrics, as ops' middleware counts Django's answers.
application = MetaWebhookFastPath(SendPermissionFastPath(application), on_answer=fast_path_answered)

# What is loaded by now (Django, the apps, the URL conf, the libraries) lives as long as the process: kept out of
# the collector's full passes, which otherwise walk it again every few batches of usage (~20% of a batch's Python).
gc.freeze()
