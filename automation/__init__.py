"""Devices, agents, scripts, tasks, task groups on cron, and runs (the Celery side of the platform)."""
