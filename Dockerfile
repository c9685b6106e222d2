# The altlas service: the starter set (SDK, core, every plugin in plugins/, the default
# catalog's model packages), installed with the same requirement files as
# scripts/install.sh, serving on port 8000 with MODEL_DIR=/app/models.
#
#   docker build -t altlas .
#   docker run -p 8000:8000 -e ALTLAS_API_KEY="$(openssl rand -hex 32)" \
#       -v /path/to/models:/app/models altlas
#
# It serves on 0.0.0.0, so it needs an API key (without one `altlas serve` refuses to
# start): ALTLAS_API_KEY, or ALTLAS_API_KEY_FILE naming a mounted secret
# (-e ALTLAS_API_KEY_FILE=/run/secrets/altlas_api_key), or AUTH_KEYS_FILE with named keys
# from `altlas keys create`. Clients send `Authorization: Bearer <key>`
# (docs/configuration.md, "Security").
#
# CPU-only torch (a much smaller image):
#   docker build --build-arg PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu -t altlas .

# --- build: a virtual environment with everything installed -----------------------------
FROM python:3.11-slim AS build

# A compiler for the distributions that build from source (llama-cpp-python).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY constraints.txt ./
COPY requirements/ requirements/
COPY sdk/ sdk/
COPY core/ core/
COPY plugins/ plugins/
COPY scripts/wheelhouse.sh scripts/

# The documented install path (scripts/install.sh), in its order: the torch family first;
# then the distributions (editable, from /app), with llama-cpp-python built portable (no
# -march=native) by scripts/wheelhouse.sh; then the model packages without their
# dependencies.
RUN python -m venv /opt/venv \
    && pip install "pip>=25.1" \
    && pip install -c constraints.txt -r requirements/torch.txt \
    && wheelhouse="$(PYTHON=/opt/venv/bin/python bash scripts/wheelhouse.sh)" \
    && pip install -c constraints.txt --find-links "$wheelhouse" -r requirements/starter.txt \
    && pip install --no-deps -c constraints.txt -r requirements/no-deps.txt

# --- runtime ------------------------------------------------------------------------------
FROM python:3.11-slim

# libgomp: OpenMP for onnxruntime and torch.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 altlas \
    && mkdir -p /app/models /app/cache \
    && chown altlas:altlas /app/models /app/cache

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MODEL_DIR=/app/models \
    CACHE_DIR=/app/cache

WORKDIR /app
USER 1000:1000
VOLUME ["/app/models"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["altlas", "serve", "--host", "0.0.0.0", "--port", "8000"]
