#!/usr/bin/env bash
# Makes sure a PostgreSQL server is reachable for the test suite and prints its URL.
#
#   export DATABASE_URL=$(scripts/ensure_postgres.sh)
#
# Only the URL goes to stdout; every log line goes to stderr.
#  1. $DATABASE_URL set            -> print it unchanged.
#  2. a server on 127.0.0.1:5432   -> print postgresql://postgres@127.0.0.1:5432/postgres
#  3. an installed cluster         -> start it (pg_ctlcluster), then as 2.
#  4. nothing installed            -> apt-get install postgresql, start it, then as 2.
# Local clusters it starts or installs get trust authentication for 127.0.0.1/::1.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
DEFAULT_URL="postgresql://postgres@${HOST}:${PORT}/postgres"

log() { echo "ensure_postgres: $*" >&2; }

if [[ -n "${DATABASE_URL:-}" ]]; then
    log "using DATABASE_URL from the environment"
    echo "$DATABASE_URL"
    exit 0
fi

is_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$HOST" -p "$PORT" >/dev/null 2>&1 && return 0
    fi
    # TCP probe (bash /dev/tcp), for machines without the client tools.
    (exec 3<>"/dev/tcp/${HOST}/${PORT}") >/dev/null 2>&1
}

can_login() {
    command -v psql >/dev/null 2>&1 || return 0  # cannot check without psql: assume yes
    psql "$DEFAULT_URL" -Atqc 'select 1' >/dev/null 2>&1
}

wait_ready() {
    local i
    for i in $(seq 1 60); do
        if is_ready; then
            return 0
        fi
        sleep 1
    done
    return 1
}

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        log "need root for: $*"
        return 1
    fi
}

first_cluster_version() {
    ls /etc/postgresql 2>/dev/null | sort -V | tail -1
}

# Trust local TCP connections (test machines only) and listen on 127.0.0.1.
configure_trust() {
    local version="$1"
    local conf_dir="/etc/postgresql/${version}/main"
    local hba="${conf_dir}/pg_hba.conf"
    [[ -f "$hba" ]] || return 0
    if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        log "configuring trust authentication for 127.0.0.1 in $hba"
        local tmp
        tmp="$(mktemp)"
        {
            echo "host all all 127.0.0.1/32 trust"
            echo "host all all ::1/128 trust"
            cat "$hba"
        } >"$tmp"
        as_root cp "$tmp" "$hba"
        rm -f "$tmp"
        as_root chown postgres:postgres "$hba" 2>/dev/null || true
        return 1  # tell the caller a reload/restart is needed
    fi
    return 0
}

start_cluster() {
    local version
    version="$(first_cluster_version)"
    if [[ -z "$version" ]]; then
        if command -v pg_ctlcluster >/dev/null 2>&1 && command -v pg_createcluster >/dev/null 2>&1; then
            version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)"
            if [[ -n "$version" ]]; then
                log "creating cluster ${version}/main"
                as_root pg_createcluster "$version" main --port "$PORT" >&2
            fi
        fi
    fi
    [[ -n "$version" ]] || return 1
    configure_trust "$version" || true
    log "starting cluster ${version}/main"
    if ! as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1; then
        # Already running (e.g. started by the package's install script): restart so
        # the authentication change applies.
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart >&2 2>&1 || return 1
    fi
    wait_ready
}

install_postgres() {
    command -v apt-get >/dev/null 2>&1 || { log "apt-get not available"; return 1; }
    log "installing postgresql with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update >&2
    as_root apt-get install -y postgresql >&2
}

# A role that must log in with a password, for tests/test_postgres_bad_input.py's
# wrong-password case. Only on the local test server this script manages: its line goes
# before the trust lines of pg_hba.conf (first match wins) and the server reloads.
PROBE_ROLE=duroxide_auth_probe
ensure_auth_probe() {
    command -v psql >/dev/null 2>&1 || return 0
    local hba tmp
    hba="$(psql "$DEFAULT_URL" -Atqc 'show hba_file' 2>/dev/null)" || return 0
    psql "$DEFAULT_URL" -qc "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PROBE_ROLE}') THEN CREATE ROLE ${PROBE_ROLE} LOGIN PASSWORD 'duroxide-probe-password'; END IF; END \$\$" >&2 || return 0
    if [[ -f "$hba" ]] && ! grep -q "$PROBE_ROLE" "$hba"; then
        log "requiring a password for role ${PROBE_ROLE} in $hba"
        tmp="$(mktemp)"
        { echo "host all ${PROBE_ROLE} 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$tmp"
        as_root cp "$tmp" "$hba"
        rm -f "$tmp"
        as_root chown postgres:postgres "$hba" 2>/dev/null || true
        psql "$DEFAULT_URL" -Atqc 'select pg_reload_conf()' >/dev/null
    fi
}

if is_ready; then
    if can_login; then
        log "PostgreSQL already listening on ${HOST}:${PORT}"
        ensure_auth_probe
        echo "$DEFAULT_URL"
        exit 0
    fi
    log "a server listens on ${HOST}:${PORT} but rejects ${DEFAULT_URL}"
    version="$(first_cluster_version)"
    if [[ -n "$version" ]] && ! configure_trust "$version"; then
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2 2>&1 || true
        sleep 1
        if can_login; then
            ensure_auth_probe
            echo "$DEFAULT_URL"
            exit 0
        fi
    fi
    log "cannot log in as postgres on ${HOST}:${PORT}; set DATABASE_URL"
    exit 1
fi

if ! start_cluster; then
    install_postgres || { log "could not install PostgreSQL"; exit 1; }
    # The Debian package creates and starts a cluster; make sure it runs with trust auth.
    start_cluster || { log "could not start PostgreSQL"; exit 1; }
fi

if ! wait_ready; then
    log "PostgreSQL did not become ready on ${HOST}:${PORT}"
    exit 1
fi
if ! can_login; then
    log "PostgreSQL is up but ${DEFAULT_URL} is rejected"
    exit 1
fi
log "PostgreSQL ready on ${HOST}:${PORT}"
ensure_auth_probe
echo "$DEFAULT_URL"
