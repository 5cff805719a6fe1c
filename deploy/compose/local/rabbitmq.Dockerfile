# RabbitMQ from Debian's packages, with its management plugin, for the container tests only
# (scripts/check/containers.sh). It honours the official image's RABBITMQ_DEFAULT_USER and
# RABBITMQ_DEFAULT_PASS, and its data folder.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/* \
    && rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
COPY rabbitmq-entrypoint.sh /usr/local/bin/entrypoint
ENTRYPOINT ["/usr/local/bin/entrypoint"]
