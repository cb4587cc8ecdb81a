"""Settings for the attendance site.

Every value comes from the environment. With nothing set, the app runs for a
newcomer on one machine: SQLite in the project folder, Celery tasks run
in-process, DEBUG on. With DEBUG off, a missing SECRET_KEY, DATABASE_URL or
ALLOWED_HOSTS stops the app from starting rather than guessing.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)


def _required_in_production(name: str, default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_DEBUG is off.")
    return default


SECRET_KEY = _required_in_production("SECRET_KEY", "dev-only-insecure-key-change-me")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[] if not DEBUG else ["localhost", "127.0.0.1", "[::1]", "testserver"],
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "template_partials",
    "django_filters",
    "django_celery_beat",
    "pupils",
    "interventions",
    "letters",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "attendance_site.middleware.SignInAgainMiddleware",
    "attendance_site.middleware.ContentSecurityPolicyMiddleware",
    "attendance_site.middleware.PoliteNotFoundMiddleware",
]

ROOT_URLCONF = "attendance_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "attendance_site.context.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "attendance_site.wsgi.application"

# No DATABASE_URL: SQLite beside manage.py, so a newcomer needs nothing running.
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
elif DEBUG:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
        }
    }
else:
    raise ImproperlyConfigured("DATABASE_URL must be set when DJANGO_DEBUG is off.")
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Without collectstatic (development, tests), WhiteNoise serves straight from the app folders.
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

# Bootstrap names the error colour "danger".
MESSAGE_TAGS = {messages.ERROR: "danger"}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed sign-ins: after this many for one username from one address, refuse for this long.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2

# Everything from our own origin; style attributes allowed for data-driven stage colours.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'self'; object-src 'none'"
)

# Celery: no REDIS_URL means tasks run in-process, so the app works with nothing else running.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60 * 60)
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TRACK_STARTED = True
# A task taken by a worker that dies is not acknowledged, so Redis hands it out again after
# this long; it must be longer than any task may run (the nightly tasks are safe to run twice).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The periodic tasks themselves live in the database (django-celery-beat), where admins can see
# and pause them; migrations create them:
# - "interventions: nightly dispatch" (every 15 minutes): starts the night for each school whose
#   local time has passed NIGHTLY_LOCAL_TIME and whose night has not yet succeeded
#   (interventions/migrations/0006_nightly_dispatch_schedule.py).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# The nightly job (interventions/README.md, "The night").
# Each school's night runs at this local time (its School.time_zone) for the day before.
NIGHTLY_LOCAL_TIME = env.str("NIGHTLY_LOCAL_TIME", default="02:00")
# A night that failed this many times is not started again by the schedule (run_nightly still can).
NIGHTLY_MAX_ATTEMPTS = env.int("NIGHTLY_MAX_ATTEMPTS", default=3)
# Who is e-mailed when a school's night has failed that often and the schedule leaves it for a person.
NIGHTLY_ALERT_EMAILS = env.list("NIGHTLY_ALERT_EMAILS", default=[])
# Recount every pupil-week from the register at least this often, whatever changed.
NIGHTLY_FULL_EVERY_DAYS = env.int("NIGHTLY_FULL_EVERY_DAYS", default=7)
# Tests only: seconds to sleep between pupils, so a test can kill a worker half-way. Never set it elsewhere.
NIGHTLY_TEST_PAUSE_S = env.float("NIGHTLY_TEST_PAUSE_S", default=0.0)

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="attendance@localhost")
# For the SMTP backend (password-reset e-mails).
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
# Seconds to wait for the mail server: an alert sent from the nightly job must not hold up a worker.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Idle timeout: a session left alone this long ends (every request renews it).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Shared by every process in production (login throttling must be), local memory otherwise.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # For a page fragment not worth keeping (a search as it is typed): `{% cache ... using=... %}` names it.
    "none": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# National reference figures for the dashboard chart: DfE "Pupil attendance in schools", 2025/26
# year to date, all schools (see shared/docs/attendance-rules.md). Update when DfE publishes new ones.
NATIONAL_ATTENDANCE_PCT = env.float("NATIONAL_ATTENDANCE_PCT", default=93.1)
NATIONAL_PERSISTENT_ABSENCE_PCT = env.float("NATIONAL_PERSISTENT_ABSENCE_PCT", default=18.8)
NATIONAL_FIGURES_LABEL = env.str("NATIONAL_FIGURES_LABEL", default="England 2025/26 year to date")
