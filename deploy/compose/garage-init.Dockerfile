# Compose's garage-init service: curl and deploy/compose/garage-init.sh, run once per `up`.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
COPY garage-init.sh /usr/local/bin/garage-init
USER 65534
ENTRYPOINT ["/usr/local/bin/garage-init"]
