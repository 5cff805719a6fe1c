# PostgreSQL from Debian's packages, for the container tests only (scripts/check/containers.sh),
# where the official image cannot be pulled. It honours the official image's
# POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB, and its data folder.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN mkdir -p /etc/postgresql-common \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
    && apt-get update && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*
COPY postgres-entrypoint.sh /usr/local/bin/entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/entrypoint"]
