# One image for web, worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GATEWAY_ENV=production DATA_DIR=/data STATIC_ROOT=/app/staticfiles
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app gateway
WORKDIR /app
COPY pyproject.toml ./
COPY gateway ./gateway
COPY accounts ./accounts
COPY scans ./scans
RUN pip install --no-cache-dir .
COPY . .
# collectstatic needs settings that import; these placeholders never reach a running container.
RUN SECRET_KEY=build-only-$(head -c 32 /dev/urandom | base64 | tr -dc a-z0-9)-$(head -c 32 /dev/urandom | base64 | tr -dc a-z0-9) \
    VAULT_KEYRING='{"primary":"build","keys":{}}' ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput --verbosity 0
RUN mkdir -p /data && chown gateway /data
USER gateway
EXPOSE 8000
CMD ["gunicorn", "gateway.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--timeout", "900", "--access-logfile", "-", "--access-logformat", "%(m)s %(U)s %(s)s %(L)ss"]
