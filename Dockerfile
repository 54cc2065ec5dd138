# The one platform image: KFP components, `mlops serve`, batch scoring (Spark needs Java 17),
# Feast materialisation and the backup jobs (`mlops backup`) all run it. Its tag is the package version
# (components/image.py, the charts' appVersion).
#
#   docker build -t ghcr.io/mlops-platform/platform:0.1.0 .
#
# The base is pinned by tag and digest so a rebuild of the same commit starts from the same
# bytes; bump both together (Debian security updates arrive as new digests of the tag).
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS base

# --------------------------------------------------------------------------- builder
FROM base AS builder

ARG UV_VERSION=0.13.9
# The venv lives at the same path in both stages, and the sources at /app, so the editable
# install's path entry and the console scripts' shebangs stay valid after the copy.
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN pip install "uv==${UV_VERSION}"

WORKDIR /app

# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --compile-bytecode --no-install-project

COPY mlops ./mlops
COPY platform_config ./platform_config
COPY training ./training
COPY model_registry ./model_registry
COPY mlops_cli ./mlops_cli
COPY components ./components
COPY pipelines ./pipelines
COPY data_quality ./data_quality
COPY feature_store ./feature_store
COPY model_governance ./model_governance
COPY privacy ./privacy
COPY serving ./serving
COPY observability ./observability
COPY backup ./backup
COPY config ./config
# The final root filesystem is read-only: the rooms' bytecode has to exist beforehand.
RUN uv sync --frozen --no-dev --compile-bytecode \
    && /opt/venv/bin/python -m compileall -q mlops platform_config training model_registry mlops_cli components pipelines \
       data_quality feature_store model_governance privacy serving observability backup

# --------------------------------------------------------------------------- runtime
FROM base AS runtime

LABEL org.opencontainers.image.title="mlops-platform" \
      org.opencontainers.image.description="Kubeflow Pipelines MLOps platform: components, serving, batch, feature store jobs." \
      org.opencontainers.image.source="https://github.com/mlops-platform/mlops-platform" \
      org.opencontainers.image.licenses="Apache-2.0"

# Java 17 for PySpark batch scoring; restic (encrypted, deduplicated backup repository) and
# pg_dump/pg_restore 15 for `mlops backup`. The base digest fixes the Debian release; the
# packages are pinned to their major (minor for restic, whose repository format and flags
# are what the backup room relies on) so Debian's security updates still apply. The man
# directory is created because the JRE's post-install script links its man pages there and
# the slim image leaves it out.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless "restic=0.14.*" postgresql-client-15 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid above 10000: the charts' runAsUser, and no overlap with host users.
RUN groupadd --gid 10001 mlops \
    && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin mlops

# Caches go to /tmp, the one writable path the charts mount (the root FS is read-only there).
# OpenMP waiters sleep instead of spinning: a pod whose CPU limit is below its node's core
# count (or a busy node) otherwise stalls every parallel fit and predict (see mlops_cli.main).
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    OMP_WAIT_POLICY=PASSIVE

COPY --from=builder --chown=root:root /opt/venv /opt/venv
WORKDIR /app
COPY --from=builder --chown=root:root /app /app

USER 10001:10001

EXPOSE 8080

# Docker and Compose use this for `mlops serve`; Kubernetes uses the charts' probes instead.
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('MLOPS_HEALTH_URL', 'http://127.0.0.1:8080/healthz'), timeout=2)"]

ENTRYPOINT ["mlops"]
CMD ["--help"]
