#!/usr/bin/env bash
# Generates bindings for other languages from the same UniFFI interface the Python package
# uses (udl/duroxide.udl) and the same native library. Nothing generated is committed.
#   kotlin -> bindings/kotlin/generated/uniffi/duroxide/duroxide.kt
#             (bindings/kotlin/build.sh also compiles it with the Kotlin layer)
#   swift  -> bindings/swift/: duroxide.swift, duroxideFFI.h, duroxideFFI.modulemap
#   python -> bindings/python/duroxide.py (what maturin puts in python/duroxide/_ffi)
# Usage: bindings/generate.sh [kotlin|swift|python ...]   (default: kotlin swift)
# LIB=path/to/libduroxide_ffi.so generates from that library (e.g. the one `maturin
# develop` installed in python/duroxide/_ffi/); without LIB a release build is made first.
set -euo pipefail
cd "$(dirname "$0")/.."
languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(kotlin swift)
lib="${LIB:-}"
if [ -z "$lib" ]; then
    cargo build --release --lib
    lib=target/release/libduroxide_ffi.so
fi
bindgen=target/debug/uniffi-bindgen
[ -x "$bindgen" ] || cargo build --quiet -p uniffi-bindgen
for lang in "${languages[@]}"; do
    out="bindings/$lang"
    [ "$lang" = kotlin ] && out=bindings/kotlin/generated
    rm -rf "$out/uniffi" "$out"/*.swift "$out"/*.h "$out"/*.modulemap "$out"/*.py 2>/dev/null || true
    "$bindgen" generate --language "$lang" --no-format --out-dir "$out" --library "$lib"
    echo "$out:" && find "$out" -type f | sed 's/^/  /'
done
