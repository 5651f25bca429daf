# One image for every pivotwatch process; docker-compose.yml picks the command per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIVOTWATCH_HOME=/data

RUN useradd --create-home --uid 10001 pivotwatch \
    && mkdir -p /data && chown pivotwatch /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY pivotwatch ./pivotwatch
COPY migrations ./migrations
COPY data ./data
RUN pip install --no-cache-dir .

USER pivotwatch
EXPOSE 8001 8002 8003
CMD ["pivotwatch", "--help"]
