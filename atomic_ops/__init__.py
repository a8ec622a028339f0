"""Atomic Ops Django project: settings, ASGI entry point, URL map, Celery app. Wiring only.

The Celery app lives in atomic_ops.celery (`celery -A atomic_ops worker` finds it there); it is
not imported here so that Django-free tools importing atomic_ops.env stay light.
"""
