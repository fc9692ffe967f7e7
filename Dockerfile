# syntax=docker/dockerfile:1
#
# mcp-auth-bridge container image.
#
#   docker build -t mcp-auth-bridge .
#   docker run -p 8080:8080 \
#     -v ./my-config.toml:/etc/mcp-auth-bridge/config.toml:ro \
#     -e MCP_AUTH_BRIDGE__DATABASE__URL=postgres://… \
#     -e MCP_AUTH_BRIDGE__CRYPTO__KEYS__K1="$(openssl rand -base64 32)" \
#     mcp-auth-bridge
#
# Configuration: the TOML file at /etc/mcp-auth-bridge/config.toml (mount it), overridden by
# MCP_AUTH_BRIDGE__* variables. To run on environment variables alone, override the command:
# `serve` without `--config`.

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder

WORKDIR /src

# sqlx's query macros must never try to reach a database while the image builds: they use the
# prepared metadata in .sqlx/ (`cargo sqlx prepare`) when there is any.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

COPY . .

# The registry, git checkouts and target/ live in BuildKit cache mounts, so a rebuild after a
# source change recompiles only this crate. `--locked`: Cargo.lock is the source of truth.
# The binaries are copied out because cache mounts are not part of the image. The demo MCP server
# is a binary of its own (crates/demo-mcp-server), shipped alongside for the docker-compose demo;
# none of it is in the bridge's binary.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin mcp-auth-bridge --bin demo-mcp-server \
 && install -D -m 0755 target/release/mcp-auth-bridge /out/mcp-auth-bridge \
 && install -D -m 0755 target/release/demo-mcp-server /out/demo-mcp-server

# ---------------------------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# ca-certificates: TLS to upstream identity providers and Postgres. curl: the HEALTHCHECK.
# Not pinned to versions (hadolint DL3008): the release's current packages carry its security
# fixes, and an exact pin breaks the build as soon as Debian supersedes that version.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# An unprivileged system user with a fixed uid/gid, so mounted files can be made readable to it.
RUN groupadd --system --gid 10001 mcp-auth-bridge \
 && useradd --system --uid 10001 --gid mcp-auth-bridge --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin mcp-auth-bridge \
 && mkdir -p /etc/mcp-auth-bridge

COPY --from=builder /out/mcp-auth-bridge /usr/local/bin/mcp-auth-bridge
COPY --from=builder /out/demo-mcp-server /usr/local/bin/demo-mcp-server

# Inside a container the listener must not be bound to loopback (the built-in default).
ENV MCP_AUTH_BRIDGE__SERVER__BIND=0.0.0.0:8080

# Numeric, so that orchestrators (Kubernetes `runAsNonRoot`) can verify it is not root.
USER 10001:10001

EXPOSE 8080

# Liveness only (/readyz also checks the database, which is not the container's own health).
# The port is derived from MCP_AUTH_BRIDGE__SERVER__BIND, which the image sets and which
# overrides server.bind in the file, so it is where the bridge listens even when a deployment
# moves it (`-e MCP_AUTH_BRIDGE__SERVER__BIND=0.0.0.0:9090`). A wildcard address is probed on
# loopback; a specific one (`10.0.0.5:8080`, `[::1]:8080`) as it is.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/bin/sh", "-c", "bind=${MCP_AUTH_BRIDGE__SERVER__BIND:-0.0.0.0:8080}; host=${bind%:*}; case $host in 0.0.0.0|'[::]') host=127.0.0.1 ;; esac; exec curl --fail --silent --show-error --globoff --max-time 2 --output /dev/null \"http://$host:${bind##*:}/healthz\""]

ENTRYPOINT ["mcp-auth-bridge"]
CMD ["serve", "--config", "/etc/mcp-auth-bridge/config.toml"]
