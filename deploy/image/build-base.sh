#!/usr/bin/env bash
# The container image's base made without a registry: Debian bookworm (debootstrap's minbase)
# with Python 3.11 and its venv module, imported into Docker as csp-orders-base:bookworm (the
# default BASE_IMAGE of deploy/Dockerfile). Does nothing when that image exists already; two
# runs at once take turns (the second finds the image made). Needs debootstrap, root (or sudo)
# and a Docker engine (devtools/dockerd.sh start).
#
# Usage: deploy/image/build-base.sh [IMAGE]         (default csp-orders-base:bookworm)
#   CSP_DEBIAN_MIRROR   the Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail
image="${1:-csp-orders-base:bookworm}"
mirror="${CSP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

docker info >/dev/null 2>&1 || {
  echo "$0: no Docker engine answers; start one: devtools/dockerd.sh start" >&2
  exit 1
}
command -v debootstrap >/dev/null || {
  echo "$0: debootstrap is not installed: sudo apt-get install debootstrap" >&2
  exit 1
}

# One build at a time (CI starts one in the background, the test asks for the image again).
exec 9>"${TMPDIR:-/tmp}/csp-orders-base-image.lock"
flock 9
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image is there already"
  exit 0
fi

root="$(mktemp -d "${TMPDIR:-/tmp}/csp-orders-base.XXXXXX")"
trap '$sudo rm -rf "$root" "$root.log"' EXIT
started=$SECONDS
echo "debootstrap bookworm (minbase, python3, python3-venv) from $mirror ..."
$sudo debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  echo "$0: debootstrap failed; its last lines:" >&2
  tail -n 20 "$root.log" >&2
  exit 1
}
# What an image does not need: downloaded packages and lists, documentation, manuals.
$sudo rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
  "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
  "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/debootstrap
$sudo chmod 0755 "$root"  # the image's / (mktemp made it 0700: no other user could enter it)
$sudo tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
  --message "debootstrap --variant=minbase bookworm (python3, python3-venv)" - "$image" >/dev/null
echo "$image made in $((SECONDS - started)) s"
