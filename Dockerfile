# The one image behind web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# WeasyPrint draws the letters with Pango and HarfBuzz; DejaVu is the font they fall back on.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies before the code, so a code change does not reinstall them. The
# project declares no packages of its own, so this installs only its dependencies.
COPY pyproject.toml ./
RUN pip install . && rm -rf build ./*.egg-info

COPY . .

# Static files are served by the app (whitenoise), so they are collected into the
# image. Settings refuse to load with DEBUG off and nothing set; these values are
# for this one command and are not in the image's environment.
RUN mkdir -p static \
    && DJANGO_DEBUG=false \
       SECRET_KEY=collectstatic-only-not-a-secret \
       DATABASE_URL=sqlite:////tmp/x.db \
       ALLOWED_HOSTS=x \
       python manage.py collectstatic --noinput

# Run as a user that cannot change the code; it owns only the letters it writes.
RUN useradd --system --uid 1000 --home-dir /app app \
    && mkdir -p /app/media \
    && chown app:app /app/media
USER app

EXPOSE 8000
CMD ["gunicorn", "attendance_site.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
