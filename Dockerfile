# The gateway's one image for web, workers and beat (see README, "Production with compose").
#
# BASE_IMAGE is any Debian bookworm image: the public debian:bookworm-slim by default, or a
# base built from Debian packages where no registry is reachable (`make images` does that).
# Python and the system libraries come from Debian; the Python packages are the exact versions
# and hashes of requirements.lock (complete, so installed with --no-deps), in a venv made in a
# build stage. The final stage has
# no compiler, pip cache, apt lists or build files, runs as uid 10001 and works with a
# read-only root filesystem (only /tmp and the data volumes are written).
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# deploy/wheelhouse may hold the locked wheels (make images fills it); with PIP_NO_INDEX=1 the
# build uses nothing else (air-gapped). A TLS-inspecting network's CA bundle can be passed as
# the build secret "pip_ca"; it is never part of an image layer.
ARG PIP_NO_INDEX=
RUN --mount=type=bind,source=deploy/wheelhouse,target=/wheels \
    --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    /opt/venv/bin/pip install --require-hashes --only-binary=:all: --no-deps \
        --find-links /wheels -r /tmp/requirements.lock
WORKDIR /app
COPY pyproject.toml manage.py ./
# Every Django app of the project (INSTALLED_APPS; pyproject's package list).
COPY gateway ./gateway
COPY vault ./vault
COPY audit ./audit
COPY accounts ./accounts
COPY forwarding ./forwarding
COPY scans ./scans
COPY clinic ./clinic
COPY templates ./templates
COPY static ./static
# English wording of allauth's pages (settings.LOCALE_PATHS).
COPY locale ./locale
# The project itself, editable so templates and static files stay beside the code; its own
# metadata gives `manage.py backup` the version. No build dependency is downloaded.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --no-index -e . \
    && rm -rf build \
    && /opt/venv/bin/pip uninstall --yes --quiet setuptools wheel pip
# Static files are collected once here; settings import in the embedded shape for this only.
# The settings set umask 077 for everything the app writes at run time: the code, bytecode and
# static files made here are then opened up to be read (never written) by the app's user.
RUN DATA_DIR=/tmp/build STATIC_ROOT=/app/staticfiles /opt/venv/bin/python manage.py \
        collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build \
    && /opt/venv/bin/python -m compileall -q -j 0 /app /opt/venv > /dev/null \
    && chmod -R u=rwX,go=rX /app /opt/venv

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# postgresql-client-15: pg_dump for backups. (OpenCV is the headless build: no libGL.)
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 postgresql-client-15 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/apt \
        /var/log/dpkg.log /usr/share/doc/* /usr/share/man/* \
    && groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin gateway \
    && mkdir -p /data/blobs /backups \
    && chown 10001:10001 /data /data/blobs /backups \
    && chmod 0700 /data/blobs /backups
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# HOME on /tmp: libraries that keep a per-user store (onnxruntime) never write into the image.
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp \
    DATA_DIR=/data STATIC_ROOT=/app/staticfiles LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
USER 10001:10001
EXPOSE 8000 9100 11112
CMD ["gunicorn", "--config", "python:gateway.gunicorn_conf", "gateway.wsgi"]
