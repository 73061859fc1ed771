import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()

# The messaging platform asks "may this hub send?" thousands of times a second: a request whose service key, hub
# and answer are all cached is answered before Django's middleware and DRF (api/platform.py says what it repeats
# and when it steps aside); every other request goes to Django unchanged.
from api.platform import SendPermissionFastPath  # noqa: E402  (needs the apps loaded above)

application = SendPermissionFastPath(application)
