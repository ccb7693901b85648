#!/usr/bin/env bash
# Debian packages the tests use: promtool (package prometheus) checks and unit-tests the
# alert rules; docker-registry is the real OCI registry the signature tests push to.
# Installs only what is missing; needs root (or sudo).
set -euo pipefail

declare -A wanted=([promtool]=prometheus [docker-registry]=docker-registry)
missing=()
for command in "${!wanted[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${wanted[$command]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system packages: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
