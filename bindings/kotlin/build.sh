#!/usr/bin/env bash
# Generates the Kotlin bindings from the built native library (never committed), compiles
# them with the hand-written layer (src/) and the example (example/) into one jar, and
# prints the jar's path. The jar is cached under bindings/kotlin/build/, keyed by a hash of
# every source file: a second run with nothing changed compiles nothing.
#
#   LIB=path/to/libduroxide_ffi.so   the library to generate from (default: the one
#                                    `maturin develop` installed, else target/debug, target/release)
#   KOTLIN_HOME=...                  the compiler (default: scripts/ensure_kotlin.sh)
#   JNA_JAR=...                      default /usr/share/java/jna.jar
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
log() { echo "bindings/kotlin: $*" >&2; }

lib="${LIB:-}"
if [[ -z "$lib" ]]; then
    for candidate in "$root/python/duroxide/_ffi/libduroxide_ffi.so" "$root/target/debug/libduroxide_ffi.so" \
        "$root/target/release/libduroxide_ffi.so"; do
        [[ -f "$candidate" ]] && { lib="$candidate"; break; }
    done
fi
[[ -n "$lib" && -f "$lib" ]] || { log "no libduroxide_ffi.so: run \`maturin develop\` (or cargo build) first"; exit 1; }
KOTLIN_HOME="${KOTLIN_HOME:-$("$root/scripts/ensure_kotlin.sh")}"
jna="${JNA_JAR:-/usr/share/java/jna.jar}"

# Generate (under a second) with the workspace's bindgen; build it when missing.
bindgen="$root/target/debug/uniffi-bindgen"
if [[ ! -x "$bindgen" ]]; then
    (cd "$root" && cargo build --quiet -p uniffi-bindgen)
fi
rm -rf "$here/generated"
"$bindgen" generate --language kotlin --no-format --out-dir "$here/generated" --library "$lib" >&2

sources=("$here/generated/uniffi/duroxide/duroxide.kt" "$here"/src/duroxide/*.kt "$here"/example/*.kt)
hash="$(cat "${sources[@]}" | sha256sum | cut -c1-16)"
jar="$here/build/duroxide-kotlin-$hash.jar"
if [[ ! -f "$jar" ]]; then
    mkdir -p "$here/build"
    rm -rf "$here"/build/*.jar
    log "compiling ${#sources[@]} files with kotlinc (about a minute) ..."
    start=$SECONDS
    "$KOTLIN_HOME/bin/kotlinc" -nowarn -cp "$jna:$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar" \
        -d "$here/build/partial.jar" "${sources[@]}" >&2
    mv "$here/build/partial.jar" "$jar"
    log "compiled in $((SECONDS - start)) s: $jar"
fi
echo "$jar"
