#!/usr/bin/env bash
# Starts Debian's dockerd the way this project's machines allow (vfs storage, no bridge, no
# iptables: containers use the host's network only), unless an engine already answers.
# Usage: devtools/dockerd.sh start
set -euo pipefail
[ "${1:-}" = start ] || { echo "usage: $0 start" >&2; exit 2; }
if docker info >/dev/null 2>&1; then
  exit 0
fi
command -v dockerd >/dev/null || { echo "dockerd is not installed: apt-get install docker.io" >&2; exit 1; }
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
mkdir -p .state
$sudo sh -c 'nohup dockerd --storage-driver=vfs --bridge=none --iptables=false --ip6tables=false \
  >.state/dockerd.log 2>&1 &'
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not answer within 60 s; see .state/dockerd.log" >&2
exit 1
