FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

WORKDIR /app

# pyproject.toml declares no packages (the apps run from the source tree), so this installs just the
# dependencies; copying it alone first keeps that layer cached while only the code changes.
COPY pyproject.toml ./
RUN pip install .

COPY . .

# Production settings refuse to load without a secret key and DATABASE_URL; collectstatic needs
# neither for real, so give it throwaway values that exist only during this build step.
RUN python -m portal.catalogs compile

RUN DJANGO_SECRET_KEY=collectstatic-build-step-only-not-a-real-secret-0123456789abcdef \
    DATABASE_URL=postgres://build@localhost/build \
    python manage.py collectstatic --noinput \
 && useradd --system --uid 10001 --home-dir /app app \
 && mkdir -p var/media \
 && chown -R app:app var/media

USER app
EXPOSE 8000
# The WSGI server is granian (README, "Production server"): measured on the messaging platform's send-permission
# check it serves ~3x what gunicorn did per core (bench/send_permission_servers.py). Tune it with its own
# environment variables (GRANIAN_WORKERS: each runs one request at a time, as gunicorn's 3 sync workers did: one or
# two per core; a second blocking thread measured ~5-10 µs more CPU per check; GRANIAN_LOG_ACCESS_ENABLED=true for an
# access log, one line per request, which at thousands of platform checks a second costs more than the check itself).
ENV GRANIAN_INTERFACE=wsgi \
    GRANIAN_HOST=0.0.0.0 \
    GRANIAN_PORT=8000 \
    GRANIAN_WORKERS=3 \
    GRANIAN_RUNTIME_MODE=st \
    GRANIAN_BLOCKING_THREADS=1 \
    GRANIAN_HTTP=1 \
    GRANIAN_WEBSOCKETS=false \
    GRANIAN_BACKLOG=2048 \
    GRANIAN_RESPAWN_FAILED_WORKERS=true
CMD ["granian", "config.wsgi:application"]
