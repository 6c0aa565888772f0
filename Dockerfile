# recstore production image: the API (`recstore serve`) and the worker (`recstore worker`).
# Runtime dependencies only (requirements.lock, hash-checked): no embedded servers, no test tools.
# Base images are pinned by version; bump them deliberately, like the locks.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/recstore
COPY requirements.lock ./
RUN /opt/recstore/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY recstore ./recstore
COPY crypto ./crypto
COPY ingest ./ingest
COPY api ./api
# A regular (non-editable) install of recstore itself; its dependencies came from the lock above.
RUN /opt/recstore/bin/pip install --no-deps . && rm -rf /src

FROM ${PYTHON_IMAGE}
# Debian's ffmpeg provides ffmpeg + ffprobe under the names pydub looks for.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --no-create-home recstore \
    && install -d -o recstore -g recstore -m 0700 /keys
COPY --from=build /opt/recstore /opt/recstore
ENV PATH=/opt/recstore/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app
# Named volumes copy this directory's owner and mode on first use, so the non-root user can
# write the JWT and epoch key files there and nobody else can read them.
VOLUME ["/keys"]
USER recstore
EXPOSE 8080
# /healthz of the API on RECSTORE_PORT: over HTTPS when RECSTORE_TLS_CERT_FILE is set, verified
# against that very certificate (for localhost); docker-compose.yml points the worker's at its
# metrics port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-c", "import os, ssl, urllib.request as u; c = os.environ.get('RECSTORE_TLS_CERT_FILE'); x = ssl.create_default_context(cafile=c) if c else None; x and setattr(x, 'verify_flags', x.verify_flags | ssl.VERIFY_X509_PARTIAL_CHAIN); u.urlopen(('https://localhost:' if c else 'http://127.0.0.1:') + os.environ.get('RECSTORE_PORT', '8080') + '/healthz', timeout=4, context=x)"]
ENTRYPOINT ["recstore"]
CMD ["serve"]
