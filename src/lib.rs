//! The UniFFI core of the duroxide Python SDK.
//!
//! `udl/duroxide.udl` is the contract; each module below implements one part of it.
//! See `docs/architecture.md` for how an orchestration step travels through them.

mod activity;
mod client;
mod combinators;
mod driver;
mod error;
mod executor;
mod foreign;
mod local_runtimes;
mod logging;
mod options;
mod orchestration_context;
mod outcome;
mod provider;
mod runtime;
mod store;
mod tasks;

pub use activity::{ActivityCompletion, ActivityContext, ActivityInfo, ActivityOutcome};
pub use client::{Client, OrchestrationState};
pub use error::DuroxideError;
pub use foreign::{ActivityInvoker, OrchestrationStepper};
pub use options::RuntimeConfig;
pub use orchestration_context::{OrchestrationContext, OrchestrationInfo};
pub use provider::Provider;
pub use runtime::{OrchestrationRegistration, Runtime};

uniffi::include_scaffolding!("duroxide");

/// The duroxide core version this library links.
pub fn core_version() -> String {
    "0.1.32".to_string()
}

/// Stops every runtime, refuses further callbacks into the exiting foreign interpreter,
/// and stops the shared tokio runtime so no Rust thread runs during the process's exit.
pub fn shutdown_all(timeout_ms: u64) {
    runtime::shutdown_all(timeout_ms);
    foreign::mark_exiting();
    executor::shutdown(std::time::Duration::from_millis(timeout_ms));
}
