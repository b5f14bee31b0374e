# Carebot as a container: `docker build -t carebot .`, then see compose.yaml (bot + PostgreSQL).
# Configuration comes from the environment (see .env.example); nothing secret is baked in.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin carebot \
    && mkdir -p /data \
    && chown carebot /data

USER carebot
WORKDIR /data
# SQLite in the volume by default; compose.yaml points DATABASE_URL at PostgreSQL instead.
ENV DATABASE_URL=sqlite+aiosqlite:////data/carebot.db
VOLUME ["/data"]
EXPOSE 3000

# /healthz answers 200 once the bot is ready (its body says ok or degraded, and why).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4)"]

# `carebot run` migrates the database before it starts; SIGTERM stops it cleanly (exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["carebot"]
# Socket Mode (no public URL), /healthz on port 3000. For HTTP mode use:
#   run --http --host 0.0.0.0 --port 3000
CMD ["run", "--health-port", "3000"]
