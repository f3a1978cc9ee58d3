"""The Celery application shared by web processes (which enqueue) and workers (which run)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_site.settings")

app = Celery("scheduler_site")
# Every Celery setting lives in Django settings under the CELERY_ prefix, read from the
# environment in scheduler_site/settings.py like everything else.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
