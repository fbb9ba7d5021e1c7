//! The uniffi-bindgen that maturin runs (`cargo run --bin uniffi-bindgen`).
//!
//! It exists for one reason: uniffi 0.32's library mode looks for the UDL at
//! `<crate>/src/<namespace>.udl`, while this project keeps its FFI contract in `udl/`.
//! A `BindgenPathsLayer` resolves the UDL from `udl/` first; everything else falls
//! through to uniffi's own cargo-metadata lookup.
//!
//! Kotlin and Swift bindings come from the same binary:
//! `cargo run -p uniffi-bindgen -- generate --language kotlin --out-dir bindings/kotlin \
//!  --library target/release/libduroxide_ffi.so` (see `bindings/generate.sh`).

use camino::Utf8PathBuf;
use uniffi_bindgen::bindings::{generate_with_bindgen_paths, GenerateOptions, TargetLanguage};
use uniffi_bindgen::{BindgenPaths, BindgenPathsLayer};

struct UdlDirLayer;

impl BindgenPathsLayer for UdlDirLayer {
    fn get_udl_path(&self, _crate_name: &str, udl_name: &str) -> Option<Utf8PathBuf> {
        let path = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../udl")
            .join(format!("{udl_name}.udl"));
        path.exists().then_some(path)
    }
}

fn parse_language(name: &str) -> TargetLanguage {
    match name {
        "python" => TargetLanguage::Python,
        "kotlin" => TargetLanguage::Kotlin,
        "swift" => TargetLanguage::Swift,
        "ruby" => TargetLanguage::Ruby,
        other => {
            eprintln!("uniffi-bindgen: unknown language {other:?} (python, kotlin, swift, ruby)");
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("generate") {
        return uniffi::uniffi_bindgen_main();
    }
    let mut languages = Vec::new();
    let (mut out_dir, mut config, mut crate_filter, mut source) = (None, None, None, None);
    let (mut format, mut metadata_no_deps) = (true, false);
    let mut it = args.into_iter().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--language" | "-l" => languages.push(parse_language(&it.next().unwrap_or_default())),
            "--out-dir" | "-o" => out_dir = it.next().map(Utf8PathBuf::from),
            "--config" | "-c" => config = it.next().map(Utf8PathBuf::from),
            "--crate" => crate_filter = it.next(),
            "--no-format" | "-n" => format = false,
            "--metadata-no-deps" => metadata_no_deps = true,
            "--library" => {}
            path => source = Some(Utf8PathBuf::from(path)),
        }
    }
    let (Some(source), Some(out_dir)) = (source, out_dir) else {
        eprintln!("usage: uniffi-bindgen generate --language L --out-dir DIR [--library] LIB");
        std::process::exit(2);
    };
    let mut paths = BindgenPaths::default();
    paths.add_layer(UdlDirLayer);
    let options = GenerateOptions {
        languages,
        source,
        out_dir,
        config_override: config,
        format,
        crate_filter,
        metadata_no_deps,
    };
    if let Err(err) = generate_with_bindgen_paths(options, paths) {
        eprintln!("uniffi-bindgen: {err:?}");
        std::process::exit(1);
    }
}
