# Importing the Celery app here makes @shared_task use it in every Django process.
from scheduler_site.celery import app as celery_app

__all__ = ["celery_app"]
