# The worker: the stylize-worker binary, libtorch and the converted VGG19 and fast-network
# weights, on Debian slim, as user 10001. The torch wheel brings its own CUDA runtime, so
# one base serves both flavours: the GPU needs only the NVIDIA container toolkit's driver.
#
#   docker build -f deploy/docker/worker.Dockerfile -t stylize-worker:cuda .
#   docker build -f deploy/docker/worker.Dockerfile --build-arg FLAVOUR=cpu -t stylize-worker:cpu .
#
# DIST=source (the default) builds everything inside `docker build`; DIST=prebuilt packages
# what deploy/docker/dist.sh assembled on the host in deploy/dist/worker-FLAVOUR (how the
# tests build it, where no Rust image can be pulled). Both end in the same final stage.
ARG BASE=debian:bookworm-slim
ARG DIST=source
ARG FLAVOUR=cuda

FROM rust:1.95-bookworm AS source
ARG FLAVOUR
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv patchelf \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
WORKDIR /src
COPY requirements.txt ./
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt
ENV PATH=/src/.venv/bin:$PATH LIBTORCH_USE_PYTORCH=1
COPY . .
RUN cargo build --release --locked -p stylize-worker --bin stylize-worker \
    && python scripts/weights/convert_vgg19.py var/vgg19.safetensors \
    && python scripts/weights/convert_fast.py var/fast.safetensors \
    && deploy/docker/dist.sh worker /dist "$FLAVOUR"

FROM scratch AS prebuilt
ARG FLAVOUR
COPY deploy/dist/worker-${FLAVOUR}/ /dist/

FROM ${DIST} AS dist

FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
    && useradd --system --uid 10001 --home-dir /app stylize
COPY --from=dist /dist/lib /opt/stylize/lib
COPY --from=dist /dist/weights /app
COPY --from=dist /dist/bin/stylize-worker /usr/local/bin/stylize-worker
USER 10001
WORKDIR /app
ENV LD_LIBRARY_PATH=/opt/stylize/lib STYLIZE__WORKER__WEIGHTS=/app/vgg19.safetensors \
    STYLIZE__WORKER__FAST_WEIGHTS=/app/fast.safetensors \
    STYLIZE__WORKER__METRICS_ADDRESS=0.0.0.0:9101
EXPOSE 9101
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fs http://127.0.0.1:9101/healthz || exit 1
# SIGTERM hands the running job back within worker.shutdown_deadline_seconds (20 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["stylize-worker"]
