# syntax=docker/dockerfile:1
# Tickwire server image: `tickwire serve` on port 8000 (or `tickwire feed`, `tickwire manage
# ...` with another command). docs/deployment.md runs it with compose.yaml.

# -- build: a virtualenv with Tickwire and its pinned dependencies ---------------------------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/tickwire
# The same constraints file `make` installs with: the image runs the tested versions. The
# server with both scaled-out extras: compose.yaml runs it on Redis and PostgreSQL.
COPY constraints.txt pyproject.toml README.md ./
COPY tickwire ./tickwire
RUN /opt/tickwire/bin/pip install --no-cache-dir -c constraints.txt '.[server,redis,postgres]' \
    && /opt/tickwire/bin/python -m compileall -q /opt/tickwire/lib

# Static files collected at build time (hashed, compressed), served by WhiteNoise in the
# image or by nginx from a copy. A throwaway key: collectstatic reads settings, no secret.
RUN DJANGO_SETTINGS_MODULE=tickwire.settings.production \
    SECRET_KEY=collectstatic-at-build-time-only-not-a-secret-0123456789 \
    STATIC_ROOT=/opt/tickwire-static \
    TICKWIRE_HOME=/tmp/tickwire-build \
    /opt/tickwire/bin/tickwire manage collectstatic --noinput --verbosity 0

# -- run: the slim base, the virtualenv, the static files, a user without privileges --------
FROM python:3.11-slim AS run

LABEL org.opencontainers.image.title="Tickwire" \
      org.opencontainers.image.description="Real-time market-data and live-portfolio server" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 10001 tickwire \
    && useradd --system --uid 10001 --gid tickwire --home-dir /var/lib/tickwire \
       --shell /usr/sbin/nologin tickwire \
    && install -d -o tickwire -g tickwire -m 0750 /var/lib/tickwire \
    && install -d -o tickwire -g tickwire -m 0755 /var/lib/tickwire/static

COPY --from=build /opt/tickwire /opt/tickwire
COPY --from=build /opt/tickwire-static /opt/tickwire-static

ENV PATH=/opt/tickwire/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=tickwire.settings.production \
    TICKWIRE_HOME=/var/lib/tickwire \
    STATIC_ROOT=/opt/tickwire-static \
    LOG_FORMAT=json \
    HOST=0.0.0.0 \
    PORT=8000

USER 10001:10001
WORKDIR /var/lib/tickwire
EXPOSE 8000

# Liveness only (the process answers); readiness (/realtime/ready/) is for the proxy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/realtime/live/' % os.environ.get('PORT', '8000'), timeout=2)"]

# SIGTERM drains: sockets close with 1012 and clients reconnect to another node at once.
STOPSIGNAL SIGTERM
CMD ["tickwire", "serve", "--host", "0.0.0.0", "--port", "8000"]
