#!/usr/bin/env bash
# Installs the Debian packages the build and the test suite need, skipping those already
# present. Needs root (or sudo) only when something is missing.
#   build:  cmake (libopus is compiled from source by the opus crate)
#   tests:  postgresql (store suite), sip-tester (SIPp), ffmpeg, chromium + chromium-driver,
#           sox (audio fixtures), prometheus (promtool checks the alert rules in deploy/)
set -euo pipefail

packages=(cmake pkg-config)
if [ "${1:-}" != "--build-only" ]; then
    packages+=(postgresql postgresql-client sip-tester ffmpeg chromium chromium-driver sox prometheus)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
