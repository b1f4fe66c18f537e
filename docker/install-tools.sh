#!/usr/bin/env bash
# Install what `make image` and `make test-containers` need on Debian/Ubuntu, when missing:
# Podman (with runc, which this project's docker/containers.conf selects) and mmdebstrap
# (the local Debian base image). Idempotent: does nothing when all are present.
# podman-compose comes from requirements.lock with the venv.
set -euo pipefail

missing=()
for tool in podman runc mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-tools: podman, runc and mmdebstrap are installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
echo "install-tools: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
# With the recommended packages: netavark's DNS (aardvark-dns) lets the containers find
# each other by service name.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
podman --version
