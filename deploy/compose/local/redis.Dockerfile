# Redis from Debian's packages, for the container tests only (scripts/check/containers.sh).
# Like the official image, it takes `redis-server ARGS` as its command and listens on
# every address without protected mode when it is given no configuration file.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
COPY redis-entrypoint.sh /usr/local/bin/entrypoint
USER redis
WORKDIR /var/lib/redis
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["redis-server"]
