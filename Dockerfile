# One image for every pivotwatch process; docker-compose.yml picks the command per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIVOTWATCH_HOME=/data

RUN useradd --create-home --uid 10001 pivotwatch \
    && mkdir -p /data/metrics && chown -R pivotwatch /data

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY shared ./shared
COPY services ./services
COPY pivotwatch ./pivotwatch
COPY migrations ./migrations
COPY data ./data
# Installed in place (-e), as `make install` does: the code runs from /app, where shared/migrate.py
# and pivotwatch/seed.py find migrations/ and data/ beside the packages (a copy in site-packages
# has neither), and the Celery workers, which put their working directory first on sys.path,
# import the same modules as everything else. Every version, the build's included, comes from
# requirements.lock, as in `make install` (pip first: --build-constraint needs pip 25.3).
RUN pip install --no-cache-dir -c requirements.lock pip \
    && pip install --no-cache-dir -c requirements.lock --build-constraint requirements.lock -e ".[otel]" \
    && rm -rf build

USER pivotwatch
EXPOSE 8001 8002 8003
CMD ["pivotwatch", "--help"]
