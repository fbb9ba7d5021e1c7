//! Where Rust's tracing output goes: stderr (default), a file, or the foreign language's
//! logging (a [`LogSink`]).
//!
//! The core installs a stdout subscriber on its first start unless one exists (research
//! note §0.6). We install ours first, once per process: a reloadable level filter and one
//! output layer that formats events itself (pretty, compact or JSON, with the service
//! name and version). Which settings win:
//! - `RUST_LOG`, when set, is the level filter, whatever else says;
//! - an explicit `init_tracing` / `route_tracing` call wins over runtime options (level,
//!   format, destination), and the last explicit call wins;
//! - otherwise each `Runtime.start` applies its own options (the last start wins);
//! - the service name and version always come from the last started runtime.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::ffi::error::{DuroxideError, Result};
use crate::ffi::interpreter;

/// Implemented by the foreign side to receive Rust log events (see the UDL).
pub trait LogSink: Send + Sync {
    fn log(
        &self,
        level: String,
        target: String,
        message: String,
        fields_json: String,
    ) -> std::result::Result<(), DuroxideError>;
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Pretty,
    Compact,
    Json,
}

enum Destination {
    Stderr,
    File(Mutex<std::fs::File>),
    Sink(Box<dyn LogSink>),
}

struct Settings {
    destination: Arc<Destination>,
    format: Format,
    service_name: String,
    service_version: Option<String>,
    /// Set by an explicit init call: runtime options no longer change anything.
    explicit: bool,
}

struct Output {
    settings: RwLock<Settings>,
    filter: reload::Handle<EnvFilter, Registry>,
}

static OUTPUT: OnceLock<std::result::Result<Arc<Output>, String>> = OnceLock::new();

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

fn output() -> Result<&'static Arc<Output>> {
    OUTPUT
        .get_or_init(|| {
            let (filter, handle) = reload::Layer::new(level_filter("info"));
            let output = Arc::new(Output {
                settings: RwLock::new(Settings {
                    destination: Arc::new(Destination::Stderr),
                    format: Format::Pretty,
                    service_name: "duroxide".into(),
                    service_version: None,
                    explicit: false,
                }),
                filter: handle,
            });
            tracing_subscriber::registry()
                .with(filter)
                .with(OutputLayer {
                    output: output.clone(),
                })
                .try_init()
                .map(|_| output)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            DuroxideError::invalid(format!(
                "another tracing subscriber was installed in this process before duroxide's ({e}); Rust logs go there"
            ))
        })
}

/// `RUST_LOG` when set, else warnings plus orchestration and activity traces at `level`.
fn level_filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,duroxide::orchestration={level},duroxide::activity={level}"
        ))
    })
}

fn parse_level(level: &str) -> Result<String> {
    let level = level.to_ascii_lowercase();
    if LEVELS.contains(&level.as_str()) {
        Ok(level)
    } else {
        Err(DuroxideError::invalid(format!(
            "log_level {level:?} is not one of {}",
            LEVELS.join(", ")
        )))
    }
}

fn parse_format(name: &str) -> Result<Format> {
    match name {
        "pretty" => Ok(Format::Pretty),
        "compact" => Ok(Format::Compact),
        "json" => Ok(Format::Json),
        other => Err(DuroxideError::invalid(format!(
            "log_format {other:?} is not one of \"pretty\", \"json\", \"compact\""
        ))),
    }
}

fn configure(
    explicit: bool,
    level: &str,
    format: Option<Format>,
    destination: Option<Destination>,
    service: Option<(String, Option<String>)>,
) -> Result<()> {
    let level = parse_level(level)?;
    let output = output()?;
    let mut settings = output.settings.write().unwrap_or_else(|e| e.into_inner());
    // The service identity always comes from the runtime: it names the process, not
    // where its logs go.
    if let Some((name, version)) = service {
        settings.service_name = name;
        settings.service_version = version;
    }
    if settings.explicit && !explicit {
        return Ok(());
    }
    settings.explicit |= explicit;
    if let Some(format) = format {
        settings.format = format;
    }
    if let Some(destination) = destination {
        settings.destination = Arc::new(destination);
    }
    output
        .filter
        .reload(level_filter(&level))
        .map_err(|e| DuroxideError::internal(format!("cannot change the log level: {e}")))
}

/// A runtime's log options, unless logging was configured explicitly.
pub fn apply_runtime_options(
    log_level: &str,
    log_format: &str,
    service_name: &str,
    service_version: Option<&str>,
) -> Result<()> {
    configure(
        false,
        log_level,
        Some(parse_format(log_format)?),
        None,
        Some((
            service_name.to_string(),
            service_version.map(str::to_string),
        )),
    )
}

/// Appends Rust logs to the file at `path`.
pub fn init_tracing(path: String, log_level: String, log_format: String) -> Result<()> {
    let format = parse_format(&log_format)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| DuroxideError::invalid(format!("cannot open log file {path:?}: {e}")))?;
    configure(
        true,
        &log_level,
        Some(format),
        Some(Destination::File(Mutex::new(file))),
        None,
    )
}

/// Sends Rust logs to `sink` (the foreign language's logging).
pub fn route_tracing(sink: Box<dyn LogSink>, log_level: String) -> Result<()> {
    configure(true, &log_level, None, Some(Destination::Sink(sink)), None)
}

/// Back to stderr with runtime options in charge (mainly for tests).
pub fn reset_tracing() -> Result<()> {
    let output = output()?;
    let mut settings = output.settings.write().unwrap_or_else(|e| e.into_inner());
    settings.explicit = false;
    settings.destination = Arc::new(Destination::Stderr);
    Ok(())
}

struct OutputLayer {
    output: Arc<Output>,
}

thread_local! {
    /// Set while this thread hands an event to the foreign sink: an event raised inside
    /// it goes to stderr instead of looping back.
    static IN_SINK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl<S: Subscriber> Layer<S> for OutputLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let (destination, line) = {
            let settings = self
                .output
                .settings
                .read()
                .unwrap_or_else(|e| e.into_inner());
            let line = match &*settings.destination {
                Destination::Sink(_) => String::new(),
                _ => format_line(&settings, meta.level(), meta.target(), &fields),
            };
            (settings.destination.clone(), line)
        };
        match &*destination {
            Destination::Stderr => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Destination::File(file) => {
                let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                let _ = file.write_all(line.as_bytes());
            }
            Destination::Sink(sink) => {
                let reentered = IN_SINK.with(|f| f.replace(true));
                if reentered || !interpreter::alive() {
                    let settings = self
                        .output
                        .settings
                        .read()
                        .unwrap_or_else(|e| e.into_inner());
                    let line = format_line(&settings, meta.level(), meta.target(), &fields);
                    let _ = std::io::stderr().lock().write_all(line.as_bytes());
                } else {
                    let _ = sink.log(
                        meta.level().to_string(),
                        meta.target().to_string(),
                        fields.message.clone(),
                        fields.json().to_string(),
                    );
                }
                if !reentered {
                    IN_SINK.with(|f| f.set(false));
                }
            }
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
}

impl Fields {
    fn json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.pairs
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.pairs.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.pairs.push((field.name(), format!("{value:?}")));
        }
    }
}

fn format_line(settings: &Settings, level: &Level, target: &str, fields: &Fields) -> String {
    let mut timestamp = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    let service_shown = settings.service_name != "duroxide" || settings.service_version.is_some();
    let mut out = String::with_capacity(128 + fields.message.len());
    match settings.format {
        Format::Json => {
            let mut object = serde_json::Map::new();
            object.insert("timestamp".into(), timestamp.into());
            object.insert("level".into(), level.to_string().into());
            object.insert("target".into(), target.into());
            object.insert("service.name".into(), settings.service_name.clone().into());
            if let Some(v) = &settings.service_version {
                object.insert("service.version".into(), v.clone().into());
            }
            object.insert("message".into(), fields.message.clone().into());
            object.insert("fields".into(), fields.json());
            out.push_str(&serde_json::Value::Object(object).to_string());
        }
        Format::Compact | Format::Pretty => {
            let _ = write!(out, "{timestamp} {level:>5} {target}: {}", fields.message);
            let mut pairs: Vec<(&str, &str)> =
                fields.pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if service_shown {
                pairs.push(("service.name", &settings.service_name));
                if let Some(v) = &settings.service_version {
                    pairs.push(("service.version", v));
                }
            }
            for (k, v) in pairs {
                if settings.format == Format::Pretty {
                    let _ = write!(out, "\n    {k}: {v}");
                } else {
                    let _ = write!(out, " {k}={v}");
                }
            }
        }
    }
    out.push('\n');
    out
}
