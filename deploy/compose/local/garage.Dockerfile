# Garage, the binary that scripts/lib/garage.sh builds (the same version as the compose file's
# image), for the container tests only (scripts/check/containers.sh). Laid out like the
# official image: /garage, reading /etc/garage.toml.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
COPY garage /garage
CMD ["/garage", "server"]
