#!/usr/bin/env bash
# Starts Debian's dockerd the way this project's machines allow, unless an engine already
# answers: no bridge and no iptables (containers use the host's network only, loopback traffic
# only), and overlay2 storage where the kernel mounts an overlay on Docker's data directory,
# else vfs. (vfs copies the whole image at every build step: the container test's image build
# measured 290 s with it, 50 s with overlay2.) CSP_DOCKER_STORAGE_DRIVER=vfs forces one.
# Usage: devtools/dockerd.sh start
set -euo pipefail
[ "${1:-}" = start ] || { echo "usage: $0 start" >&2; exit 2; }
cd "$(dirname "$0")/.."
if docker info >/dev/null 2>&1; then
  exit 0
fi
command -v dockerd >/dev/null || { echo "dockerd is not installed: apt-get install docker.io" >&2; exit 1; }
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
data_root=/var/lib/docker

# overlay2 when an overlay mounts in Docker's data directory (not, say, inside a container
# whose own root is an overlay), else vfs, which works everywhere.
overlay_mounts() {
  $sudo mkdir -p "$data_root"
  local probe
  probe="$($sudo mktemp -d "$data_root/overlay-probe.XXXXXX")"
  $sudo mkdir "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  local mounted=1
  if $sudo mount -t overlay overlay \
    -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" \
    2>/dev/null; then
    mounted=0
    $sudo umount "$probe/merged"
  fi
  $sudo rm -rf "$probe"
  return "$mounted"
}
driver="${CSP_DOCKER_STORAGE_DRIVER:-}"
if [ -z "$driver" ]; then
  driver=vfs
  overlay_mounts && driver=overlay2
fi

mkdir -p .state
$sudo sh -c "nohup dockerd --data-root=$data_root --storage-driver=$driver --bridge=none \
  --iptables=false --ip6tables=false >.state/dockerd.log 2>&1 &"
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && { echo "dockerd started ($driver storage)"; exit 0; }
  sleep 1
done
echo "dockerd did not answer within 60 s; see .state/dockerd.log" >&2
exit 1
