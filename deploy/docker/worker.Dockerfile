# The worker: libtorch from PyPI's torch wheel (as scripts/setup.sh does), the VGG19 and
# fast-network weights converted at build time, on NVIDIA's CUDA runtime. Build from the
# repository root: docker build -f deploy/docker/worker.Dockerfile .
# For a CPU-only image: --build-arg RUNTIME=debian:bookworm-slim
ARG RUNTIME=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt ./
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
ENV PATH=/opt/venv/bin:$PATH LIBTORCH_USE_PYTORCH=1
COPY . .
RUN cargo build --release --locked -p stylize-worker --bin stylize-worker \
    && python scripts/convert_weights.py /opt/vgg19.safetensors \
    && python scripts/convert_fast_weights.py /opt/fast.safetensors \
    && mkdir -p /opt/torch-lib && cp -a /opt/venv/lib/python3*/site-packages/torch/lib/. /opt/torch-lib/

FROM ${RUNTIME}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app stylize
COPY --from=build /opt/torch-lib /opt/torch-lib
COPY --from=build /opt/vgg19.safetensors /app/vgg19.safetensors
COPY --from=build /opt/fast.safetensors /app/fast.safetensors
COPY --from=build /src/target/release/stylize-worker /usr/local/bin/stylize-worker
USER 10001
WORKDIR /app
ENV LD_LIBRARY_PATH=/opt/torch-lib STYLIZE__WORKER__WEIGHTS=/app/vgg19.safetensors \
    STYLIZE__WORKER__FAST_WEIGHTS=/app/fast.safetensors \
    STYLIZE__WORKER__METRICS_ADDRESS=0.0.0.0:9101
EXPOSE 9101
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fs http://127.0.0.1:9101/healthz || exit 1
# SIGTERM hands the current job back within worker.shutdown_deadline_seconds (20 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["stylize-worker"]
