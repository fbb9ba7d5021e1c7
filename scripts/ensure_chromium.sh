#!/usr/bin/env bash
# Makes sure a headless Chromium is installed for the dashboard's browser tests and
# prints its path. Debian's `chromium` package (apt-get) when none is on the machine.
# Only the path goes to stdout; log lines go to stderr.
set -euo pipefail

log() { echo "ensure_chromium: $*" >&2; }

for candidate in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
        echo "$candidate"
        exit 0
    fi
done
if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    log "installing Debian's chromium (a few minutes) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; }
    echo /usr/bin/chromium
    exit 0
fi
log "no chromium found and cannot install one (needs apt-get as root); set CHROMIUM=/path/to/chromium"
exit 1
