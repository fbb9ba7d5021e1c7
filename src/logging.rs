//! Where Rust's tracing output goes.
//!
//! The core installs a stdout subscriber on its first start unless one exists (research
//! note §0.6), which would mix its log lines into the program's own output. We install
//! ours first: stderr, `RUST_LOG` when set, else warnings plus the orchestration and
//! activity traces at the runtime's `log_level`.

use std::sync::Once;

use tracing_subscriber::EnvFilter;

static INSTALL: Once = Once::new();

pub fn install_default(log_level: &str, log_format: &str) {
    INSTALL.call_once(|| {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(format!(
                "warn,duroxide::orchestration={log_level},duroxide::activity={log_level}"
            ))
        });
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false);
        // Fails only when the host process already installed a subscriber: keep theirs.
        let _ = match log_format {
            "json" => builder.json().try_init(),
            "compact" => builder.compact().try_init(),
            // The pretty format's source location would be a line inside the duroxide
            // crate, never the user's code: noise under every event.
            _ => builder
                .pretty()
                .with_file(false)
                .with_line_number(false)
                .try_init(),
        };
    });
}
