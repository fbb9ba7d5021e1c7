//! `RuntimeConfig` (the foreign side's validated options) to the core's `RuntimeOptions`.

use std::time::Duration;

use duroxide::providers::TagFilter;
use duroxide::runtime::limits::{MAX_TAG_NAME_BYTES, MAX_WORKER_TAGS};
use duroxide::runtime::{LogFormat, RuntimeOptions, UnregisteredBackoffConfig};

use crate::ffi::error::{DuroxideError, Result};
pub use crate::orchestration::verify::DeterminismChecks;

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub dispatcher_poll_interval_ms: u64,
    pub dispatcher_long_poll_timeout_ms: u64,
    pub orchestration_concurrency: u32,
    pub worker_concurrency: u32,
    pub orchestrator_lock_timeout_ms: u64,
    pub worker_lock_timeout_ms: u64,
    pub activity_cancellation_grace_period_ms: u64,
    pub max_attempts: u32,
    pub unregistered_backoff_ms: u64,
    pub max_sessions_per_runtime: u32,
    pub session_idle_timeout_ms: u64,
    pub worker_node_id: Option<String>,
    pub log_level: String,
    pub log_format: String,
    pub service_name: String,
    pub service_version: Option<String>,
    pub replay_cache_size: u32,
    pub determinism_checks: DeterminismChecks,
    pub worker_tag_filter: String,
    pub worker_tags: Vec<String>,
}

/// The bound `Runtime::start_with_options` checks (and panics on) for the session idle
/// timeout: `worker_lock_timeout - worker_lock_renewal_buffer`, or 1 s when negative.
fn renewal_point(timeout: Duration, buffer: Duration) -> Duration {
    timeout
        .checked_sub(buffer)
        .unwrap_or(Duration::from_secs(1))
}

pub fn log_format(name: &str) -> Result<LogFormat> {
    match name {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        "compact" => Ok(LogFormat::Compact),
        other => Err(DuroxideError::invalid(format!(
            "log_format {other:?} is not one of \"pretty\", \"json\", \"compact\""
        ))),
    }
}

/// The core's `TagFilter`, checked first: its constructors panic on bad input.
pub fn tag_filter(kind: &str, tags: &[String]) -> Result<TagFilter> {
    let needs_tags = matches!(kind, "tags" | "default_and");
    if needs_tags && (tags.is_empty() || tags.len() > MAX_WORKER_TAGS) {
        return Err(DuroxideError::invalid(format!(
            "worker tag filter {kind:?} needs 1 to {MAX_WORKER_TAGS} tags, got {}",
            tags.len()
        )));
    }
    if !needs_tags && !tags.is_empty() {
        return Err(DuroxideError::invalid(format!(
            "worker tag filter {kind:?} takes no tags"
        )));
    }
    for tag in tags {
        if tag.is_empty() || tag.len() > MAX_TAG_NAME_BYTES {
            return Err(DuroxideError::invalid(format!(
                "worker tag {tag:?} must be 1 to {MAX_TAG_NAME_BYTES} bytes"
            )));
        }
    }
    Ok(match kind {
        "default_only" => TagFilter::default_only(),
        "tags" => TagFilter::tags(tags.iter().cloned()),
        "default_and" => TagFilter::default_and(tags.iter().cloned()),
        "any" => TagFilter::any(),
        "none" => TagFilter::none(),
        other => {
            return Err(DuroxideError::invalid(format!(
                "worker tag filter {other:?} is not one of \"default_only\", \"tags\", \"default_and\", \"any\", \"none\""
            )))
        }
    })
}

impl RuntimeConfig {
    pub fn to_core(&self) -> Result<RuntimeOptions> {
        let ms = Duration::from_millis;
        let positive = |name: &str, value: u64| {
            if value == 0 {
                Err(DuroxideError::invalid(format!(
                    "{name} must be greater than 0"
                )))
            } else {
                Ok(())
            }
        };
        positive(
            "orchestration_concurrency",
            self.orchestration_concurrency.into(),
        )?;
        positive("worker_concurrency", self.worker_concurrency.into())?;
        positive(
            "orchestrator_lock_timeout_ms",
            self.orchestrator_lock_timeout_ms,
        )?;
        positive("worker_lock_timeout_ms", self.worker_lock_timeout_ms)?;
        positive("max_attempts", self.max_attempts.into())?;
        positive(
            "max_sessions_per_runtime",
            self.max_sessions_per_runtime.into(),
        )?;

        let mut options = RuntimeOptions {
            dispatcher_min_poll_interval: ms(self.dispatcher_poll_interval_ms),
            dispatcher_long_poll_timeout: ms(self.dispatcher_long_poll_timeout_ms),
            orchestration_concurrency: self.orchestration_concurrency as usize,
            worker_concurrency: self.worker_concurrency as usize,
            orchestrator_lock_timeout: ms(self.orchestrator_lock_timeout_ms),
            worker_lock_timeout: ms(self.worker_lock_timeout_ms),
            activity_cancellation_grace_period: ms(self.activity_cancellation_grace_period_ms),
            max_attempts: self.max_attempts,
            unregistered_backoff: UnregisteredBackoffConfig {
                base_delay: ms(self.unregistered_backoff_ms),
                max_delay: ms(self.unregistered_backoff_ms.saturating_mul(60)),
            },
            max_sessions_per_runtime: self.max_sessions_per_runtime as usize,
            session_idle_timeout: ms(self.session_idle_timeout_ms),
            worker_node_id: self.worker_node_id.clone(),
            ..RuntimeOptions::default()
        };
        let renew_at = renewal_point(
            options.worker_lock_timeout,
            options.worker_lock_renewal_buffer,
        );
        if options.session_idle_timeout <= renew_at {
            return Err(DuroxideError::invalid(format!(
                "session_idle_timeout_ms ({}) must be greater than the worker lock renewal point ({} ms, derived from worker_lock_timeout_ms)",
                self.session_idle_timeout_ms,
                renew_at.as_millis()
            )));
        }
        options.worker_tag_filter = tag_filter(&self.worker_tag_filter, &self.worker_tags)?;
        options.observability.log_format = log_format(&self.log_format)?;
        options.observability.log_level = self.log_level.clone();
        options.observability.service_name = self.service_name.clone();
        options.observability.service_version = self.service_version.clone();
        Ok(options)
    }
}
