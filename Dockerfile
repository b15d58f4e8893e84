# syntax=docker/dockerfile:1
# The service's image: built with uv from uv.lock, run as a non-root user from
# a virtual environment copied into a clean Python image (no compilers, no uv).
# It writes nowhere but /tmp and /var/lib/masstock, so it runs with a read-only
# root filesystem when both are volumes.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/masstock
RUN pip install --no-cache-dir --disable-pip-version-check "uv==0.13.9"
WORKDIR /src
# Dependencies first, in a layer of their own: it changes only with uv.lock.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 masstock \
    && useradd --system --uid 10001 --gid masstock --no-create-home \
       --home-dir /var/lib/masstock --shell /usr/sbin/nologin masstock \
    && install -d -o masstock -g masstock /var/lib/masstock
COPY --from=build /opt/masstock /opt/masstock
ENV PATH=/opt/masstock/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MASSTOCK_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/masstock-metrics
# The embedded SQLite default lands here; production sets MASSTOCK_DATABASE_URL.
WORKDIR /var/lib/masstock
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health/live', timeout=2).status != 200)"]
ENTRYPOINT ["masstock"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
