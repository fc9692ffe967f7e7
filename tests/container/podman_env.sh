# Sourced by run.sh and base_images.sh: a private, throw-away podman setup under $STATE.
#
# Nothing here touches the machine's own podman configuration or storage: the storage, the run
# directory, the configuration files and podman's temporary files all live in $STATE (by default
# target/container/), and `rm -rf "$STATE"` forgets them. Everything in it can be rebuilt.
#
# Why each setting (measured on the CI machine, a VM with cgroup v1 and no systemd):
#   runtime runc        crun refuses this VM's cgroup layout;
#   cgroupfs, file      there is no systemd to manage cgroups or take podman's events;
#   default_ulimits     the VM will not raise the open-files limit past 20000, and podman's
#                       default asks for more, so every container would fail to start;
#   overlay             the kernel's overlayfs works for root on ext4 (no fuse-overlayfs needed);
#   docker.io search    the Dockerfile's short names (`rust:1-bookworm`) resolve to the local
#                       stand-ins tagged docker.io/library/… by base_images.sh (nothing is pulled).

: "${STATE:?STATE must be set}"

mkdir -p "$STATE/storage" "$STATE/run" "$STATE/tmp" "$STATE/etc"

cat >"$STATE/etc/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF

cat >"$STATE/etc/registries.conf" <<'CONF'
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
CONF

cat >"$STATE/etc/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$STATE/storage"
runroot = "$STATE/run"
CONF

export CONTAINERS_CONF="$STATE/etc/containers.conf"
export CONTAINERS_REGISTRIES_CONF="$STATE/etc/registries.conf"
export CONTAINERS_STORAGE_CONF="$STATE/etc/storage.conf"
# Podman and buildah put their scratch files (and RUN --mount=type=cache directories) here.
export TMPDIR="$STATE/tmp"
