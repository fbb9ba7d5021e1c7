#!/usr/bin/env bash
# Generates Kotlin and Swift bindings from the same UniFFI interface the Python package
# uses (udl/duroxide.udl), into bindings/kotlin and bindings/swift (not committed).
# Usage: bindings/generate.sh [kotlin|swift|python ...]   (default: kotlin swift)
set -euo pipefail
cd "$(dirname "$0")/.."
languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(kotlin swift)
cargo build --release --lib
for lang in "${languages[@]}"; do
    cargo run --quiet -p uniffi-bindgen -- generate --language "$lang" --no-format \
        --out-dir "bindings/$lang" --library target/release/libduroxide_ffi.so
    echo "bindings/$lang:" && find "bindings/$lang" -type f | sed 's/^/  /'
done
