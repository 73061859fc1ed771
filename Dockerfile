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
CMD ["gunicorn", "config.wsgi:application", "-b", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
