#!/usr/bin/env bash
# Makes sure the Kotlin/JVM toolchain of bindings/kotlin is on the machine and prints the
# Kotlin compiler's home (the directory with bin/kotlinc and lib/).
#   - JNA: Debian's libjna-java (apt-get) -> /usr/share/java/jna.jar
#   - kotlinc: the npm registry's `kotlin-compiler` package (the full JetBrains JVM
#     compiler), installed into a cache directory outside the repository.
# java itself must be on PATH (Java 17 here). Only the path goes to stdout; log lines go
# to stderr. Exit 1 (with the reason) when something cannot be had.
set -euo pipefail

KOTLIN_VERSION=2.4.20
log() { echo "ensure_kotlin: $*" >&2; }

command -v java >/dev/null 2>&1 || { log "no java on PATH (install a JDK 17, e.g. Debian's openjdk-17-jdk-headless)"; exit 1; }

if [[ ! -f "${JNA_JAR:-/usr/share/java/jna.jar}" ]]; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        log "installing Debian's libjna-java ..."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q libjna-java >&2 \
            || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libjna-java >&2; }
    else
        log "no JNA jar at ${JNA_JAR:-/usr/share/java/jna.jar} and cannot install libjna-java (needs apt-get as root); set JNA_JAR"
        exit 1
    fi
fi

if [[ -n "${KOTLIN_HOME:-}" && -x "$KOTLIN_HOME/bin/kotlinc" ]]; then
    echo "$KOTLIN_HOME"
    exit 0
fi
cache="${DUROXIDE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/duroxide}/kotlin-compiler-$KOTLIN_VERSION"
home="$cache/node_modules/kotlin-compiler"
if [[ ! -x "$home/bin/kotlinc" ]]; then
    command -v npm >/dev/null 2>&1 || { log "no npm to install kotlin-compiler@$KOTLIN_VERSION with; set KOTLIN_HOME"; exit 1; }
    log "installing kotlin-compiler@$KOTLIN_VERSION from npm into $cache ..."
    mkdir -p "$cache"
    npm install --no-save --no-audit --no-fund --prefix "$cache" "kotlin-compiler@$KOTLIN_VERSION" >&2
    chmod +x "$home"/bin/* 2>/dev/null || true
fi
[[ -x "$home/bin/kotlinc" ]] || { log "kotlin-compiler installed but $home/bin/kotlinc is missing"; exit 1; }
echo "$home"
