"""Test settings: the real settings, with only the speed knobs changed."""

from __future__ import annotations

from .settings import *  # noqa: F403
from .settings import CACHES, STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
# Each test process has its own cache, even when REDIS_URL is set (CI): tests clear the cache,
# and a shared Redis would be cleared under another process's feet.
CACHES = {**CACHES, "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
