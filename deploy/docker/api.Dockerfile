# The api: a static page and a small Rust binary, no libtorch. Build from the repository
# root: docker build -f deploy/docker/api.Dockerfile .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p stylize-api \
    && npm ci --prefix web --no-audit --no-fund && npm run --prefix web build

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app stylize
WORKDIR /app
COPY --from=build /src/target/release/stylize-api /usr/local/bin/stylize-api
COPY --from=build /src/web/static /app/web/static
USER 10001
ENV STYLIZE__HTTP__HOST=0.0.0.0 STYLIZE__HTTP__PORT=8080 STYLIZE__WEB__DIR=/app/web/static \
    STYLIZE__PRESETS__DIR=/app/presets
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fs http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["stylize-api"]
