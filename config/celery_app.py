import gc
import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("hub_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _freeze_what_is_loaded(**_kwargs) -> None:
    """As a worker starts (a solo worker, or the parent before it forks its pool) and in each pool process: what is
    loaded lives as long as the process, so the collector's full passes leave it alone (as config/wsgi.py); the
    drain and the usage batches allocate a lot, and full collections walked the whole heap every few batches."""
    gc.freeze()
