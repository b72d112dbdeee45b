"""trackreplay: prove an app's analytics tracking still works after every change."""

# Importing the Celery app here makes `shared_task` bind to it whenever Django starts.
from .celery import app as celery_app

__all__ = ["celery_app"]
__version__ = "0.1.0"
