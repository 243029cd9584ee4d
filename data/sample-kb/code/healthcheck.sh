#!/usr/bin/env bash
# Probe a service's health endpoint until it answers, for use in deploy scripts.
set -euo pipefail

url=${1:?usage: healthcheck.sh URL [TIMEOUT_SECONDS]}
deadline=$(( $(date +%s) + ${2:-60} ))

until curl --fail --silent --max-time 2 "$url" > /dev/null; do
    if (( $(date +%s) > deadline )); then
        echo "service at $url did not become healthy" >&2
        exit 1
    fi
    sleep 1
done
echo "healthy: $url"
