# syntax=docker/dockerfile:1
# mlp-service: multi-stage build. Stage 1 builds wheels for the project and every dependency;
# stage 2 installs them into a clean slim image with no compiler, no pip cache, no sources.

FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mlp_engine ./mlp_engine
COPY app ./app
# The checksum file is copied into the runtime stage below: bind mounts do not take part in
# podman's layer cache key, so without it a rebuilt wheel could be skipped.
# The `onnx` extra: GET /v1/models/{id}/download?format=onnx needs the onnx package (a 501 without).
RUN python -m pip wheel --wheel-dir /wheels '.[onnx]' && sha256sum /wheels/*.whl > /wheels.sha256

FROM python:3.12-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    MLP_DATA_DIR=/data \
    MLP_HOST=0.0.0.0 \
    MLP_PORT=8000
COPY --from=build /wheels.sha256 /tmp/wheels.sha256
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels 'mlp-service[onnx]' \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home app \
    && mkdir -p /data && chown app:app /data
USER app
WORKDIR /home/app
VOLUME ["/data"]
EXPOSE 8000
# The slim image has no curl: probe /health with the standard library.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MLP_PORT', '8000'), timeout=2)"]
# Exec form: uvicorn is PID 1's child-free process and receives SIGTERM directly; it shuts down
# gracefully within MLP_GRACEFUL_SHUTDOWN_SECONDS (5 s), inside Docker's 10 s stop grace period.
CMD ["mlp-service", "serve"]
