#!/usr/bin/env bash
# Builds local stand-ins for the two base images the Dockerfile names, for machines that reach
# only the package registries (no container registry), and tags them with the official names in
# the private podman storage of podman_env.sh, so that the unchanged Dockerfile builds with
# `--pull=never`:
#
#   docker.io/library/debian:bookworm-slim  `debootstrap --variant=minbase bookworm`, with the
#                                           official slim image's dpkg exclusions (no docs, man
#                                           pages or locales);
#   docker.io/library/rust:1-bookworm       the same plus gcc and libc6-dev (ring's C code), the
#                                           CA certificates this machine trusts (crates.io is
#                                           reached through them) and this machine's Rust
#                                           toolchain, laid out as the official image has it
#                                           (CARGO_HOME=/usr/local/cargo).
#
#   STATE=target/container bash tests/container/base_images.sh
#
# An image already in the storage is kept; `rm -rf "$STATE"` rebuilds everything. Needs root
# and debootstrap (run.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=${STATE:-$PWD/target/container}
# shellcheck source=tests/container/podman_env.sh
. tests/container/podman_env.sh

RELEASE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
RUNTIME_IMAGE=docker.io/library/debian:$RELEASE-slim
BUILDER_IMAGE=docker.io/library/rust:1-$RELEASE
TREES="$STATE/rootfs"
TOOLCHAIN=/usr/local/rustup/toolchains/host
BUILDER_PATH="/usr/local/cargo/bin:$TOOLCHAIN/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

say() { printf 'container: %s\n' "$*"; }
die() { printf 'container: %s\n' "$*" >&2; exit 1; }

# --- the minimal Debian tree (shared by both images) ----------------------------------------
minbase() {
  local tree="$TREES/minbase"
  [ -f "$tree/.complete" ] && return 0
  rm -rf "$tree"
  mkdir -p "$tree" "$STATE/debs"
  say "debootstrap --variant=minbase $RELEASE"
  timeout 600 debootstrap --variant=minbase --cache-dir="$STATE/debs" "$RELEASE" "$tree" "$MIRROR" \
    >"$STATE/debootstrap.log" 2>&1 || { tail -n 20 "$STATE/debootstrap.log" >&2; die "debootstrap failed"; }
  # As the official slim images: packages installed later leave out docs, man pages, locales.
  cat >"$tree/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
CFG
  # And apt keeps no package caches or downloaded packages (the official images' docker-clean).
  cat >"$tree/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  echo 'Acquire::Languages "none";' >"$tree/etc/apt/apt.conf.d/docker-no-languages"
  find "$tree/usr/share/doc" -mindepth 2 ! -name copyright -type f -delete
  rm -rf "$tree"/usr/share/{man,info,locale}/* "$tree"/var/cache/apt/*.bin \
    "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/* "$tree"/var/log/*.log
  touch "$tree/.complete"
}

import_tree() { # tree image change...
  local tree=$1 image=$2
  shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  tar --numeric-owner --exclude=./.complete -C "$tree" -c . |
    podman import --quiet "${changes[@]}" --message "local stand-in built by tests/container/base_images.sh" - "$image" >/dev/null
}

# --- debian:bookworm-slim ------------------------------------------------------------------
runtime_image() {
  podman image exists "$RUNTIME_IMAGE" && return 0
  minbase
  say "importing $RUNTIME_IMAGE"
  import_tree "$TREES/minbase" "$RUNTIME_IMAGE" 'CMD ["bash"]'
}

# --- rust:1-bookworm -----------------------------------------------------------------------
rust_toolchain_is_new_enough() {
  local need have
  need=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
  have=$(rustc --version | awk '{print $2}')
  [ -n "$need" ] || return 0
  [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" = "$need" ] ||
    die "this machine's rustc $have is older than Cargo.toml's rust-version $need"
  say "Rust toolchain: rustc $have (Cargo.toml needs >= $need)"
}

builder_image() {
  podman image exists "$BUILDER_IMAGE" && return 0
  command -v rustc >/dev/null 2>&1 || die "rustc not found: the builder image copies this machine's toolchain"
  rust_toolchain_is_new_enough
  minbase
  local tree="$TREES/builder" sysroot
  rm -rf "$tree"
  cp -a "$TREES/minbase" "$tree"
  # The machine's CA certificates (a proxy's own CA among them) for apt and cargo inside.
  if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
    cp -a /usr/local/share/ca-certificates/. "$tree/usr/local/share/ca-certificates/"
  fi
  cp /etc/resolv.conf "$tree/etc/resolv.conf"
  say "builder image: apt-get install gcc libc6-dev ca-certificates (in the Debian tree)"
  timeout 600 chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates \
           && update-ca-certificates && apt-get clean && rm -rf /var/lib/apt/lists/*' \
    >"$STATE/builder-apt.log" 2>&1 || { tail -n 20 "$STATE/builder-apt.log" >&2; die "apt-get in the builder tree failed"; }
  : >"$tree/etc/resolv.conf"
  # The toolchain: cargo and rustc with their libraries (no docs, no rust-src, no rustup).
  sysroot=$(rustc --print sysroot)
  mkdir -p "$tree$TOOLCHAIN/bin" "$tree/usr/local/cargo/bin"
  cp -a "$sysroot/bin/cargo" "$sysroot/bin/rustc" "$tree$TOOLCHAIN/bin/"
  cp -a "$sysroot/lib" "$tree$TOOLCHAIN/"
  chroot "$tree" /usr/bin/env -i PATH="$BUILDER_PATH" cargo --version >/dev/null ||
    die "the copied Rust toolchain does not run in the Debian tree"
  say "importing $BUILDER_IMAGE"
  import_tree "$tree" "$BUILDER_IMAGE" \
    "ENV PATH=$BUILDER_PATH" 'ENV CARGO_HOME=/usr/local/cargo' 'ENV RUSTUP_HOME=/usr/local/rustup' 'CMD ["bash"]'
  rm -rf "$tree"
}

runtime_image
builder_image
