# recstore production image: the API (`recstore serve`) and the worker (`recstore worker`).
FROM python:3.11-slim-bookworm

# Debian's ffmpeg provides ffmpeg + ffprobe under the names pydub looks for.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app recstore

WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY recstore ./recstore
COPY crypto ./crypto
COPY ingest ./ingest
COPY api ./api
RUN pip install --no-cache-dir --no-deps .

USER recstore
EXPOSE 8080
ENTRYPOINT ["recstore"]
CMD ["serve"]
