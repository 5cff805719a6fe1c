# The api: the stylize-api binary (no libtorch), the built page and the preset paintings,
# on Debian slim, as user 10001. It applies the migrations at start-up.
#
#   docker build -f deploy/docker/api.Dockerfile -t stylize-api .
#
# DIST=source (the default) builds inside `docker build`; DIST=prebuilt packages what
# deploy/docker/dist.sh assembled on the host in deploy/dist/api (how the tests build
# it, where no Rust image can be pulled). Both end in the same final stage.
ARG BASE=debian:bookworm-slim
ARG DIST=source

FROM rust:1.95-bookworm AS source
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p stylize-api --bin stylize-api \
    && mkdir -p var && target/release/stylize-api openapi > var/openapi.json \
    && npm ci --prefix web --no-audit --no-fund && npm run --prefix web build \
    && deploy/docker/dist.sh api /dist

FROM scratch AS prebuilt
COPY deploy/dist/api/ /dist/

FROM ${DIST} AS dist

FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
    && useradd --system --uid 10001 --home-dir /app stylize
COPY --from=dist /dist/bin/stylize-api /usr/local/bin/stylize-api
COPY --from=dist /dist/web /app/web
COPY --from=dist /dist/presets /app/presets
USER 10001
WORKDIR /app
ENV STYLIZE__HTTP__HOST=0.0.0.0 STYLIZE__HTTP__PORT=8080 STYLIZE__WEB__DIR=/app/web \
    STYLIZE__PRESETS__DIR=/app/presets
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fs http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["stylize-api"]
