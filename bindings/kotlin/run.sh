#!/usr/bin/env bash
# Builds (bindings/kotlin/build.sh, cached) and runs the Kotlin example with the native
# library JNA loads from the directory of LIB. Arguments go to the example, e.g.
#   bindings/kotlin/run.sh workflow /tmp/orders.db
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
KOTLIN_HOME="${KOTLIN_HOME:-$("$root/scripts/ensure_kotlin.sh")}"
export KOTLIN_HOME
jar="$("$here/build.sh")"
lib="${LIB:-}"
[[ -n "$lib" ]] || for candidate in "$root/python/duroxide/_ffi/libduroxide_ffi.so" "$root/target/debug/libduroxide_ffi.so" \
    "$root/target/release/libduroxide_ffi.so"; do
    [[ -f "$candidate" ]] && { lib="$candidate"; break; }
done
cp="$jar:${JNA_JAR:-/usr/share/java/jna.jar}:$KOTLIN_HOME/lib/kotlin-stdlib.jar:$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar"
exec java -Djna.library.path="$(dirname "$lib")" -cp "$cp" duroxide.example.ExampleKt "$@"
