# Smarketing production image: web (gunicorn), worker and beat all run from it
# (docker-compose.yml picks the command). Static files and translations are built in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    SMARKETING_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 10001 smarketing \
    && useradd --system --uid 10001 --gid smarketing --home-dir /app --shell /usr/sbin/nologin smarketing

WORKDIR /app

# Dependencies first (cached while pyproject.toml is unchanged), then the code.
COPY pyproject.toml README.md ./
RUN mkdir smarketing && touch smarketing/__init__.py \
    && pip install -e . \
    && rm -rf smarketing
COPY . .
RUN pip install --no-deps -e . \
    && python scripts/compile_messages.py --force \
    && DEBUG=0 \
       SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
       DATABASE_URL=postgres://build@localhost/build \
       REDIS_URL=redis://localhost:6379/0 \
       ALLOWED_HOSTS=localhost \
       python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var \
    && chown -R smarketing:smarketing /app/var

USER smarketing
EXPOSE 8000

# WEB_CONCURRENCY is read by gunicorn itself (number of workers).
CMD ["gunicorn", "smarketing.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-", \
     "--forwarded-allow-ips", "*", "--timeout", "60"]
