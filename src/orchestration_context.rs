//! The context object a generator uses for calls that do not yield.

use duroxide::OrchestrationContext as CoreCtx;

use crate::error::{DuroxideError, Result};

/// The core's limit on a custom status (`duroxide::runtime::limits::MAX_CUSTOM_STATUS_BYTES`).
const MAX_CUSTOM_STATUS_BYTES: usize = duroxide::runtime::limits::MAX_CUSTOM_STATUS_BYTES;

#[derive(Debug, Clone)]
pub struct OrchestrationInfo {
    pub instance_id: String,
    pub execution_id: u64,
    pub orchestration_name: String,
    pub orchestration_version: String,
}

impl OrchestrationInfo {
    pub fn of(ctx: &CoreCtx) -> Self {
        Self {
            instance_id: ctx.instance_id(),
            execution_id: ctx.execution_id(),
            orchestration_name: ctx.orchestration_name(),
            orchestration_version: ctx.orchestration_version(),
        }
    }
}

pub struct OrchestrationContext {
    ctx: CoreCtx,
}

impl OrchestrationContext {
    pub fn new(ctx: CoreCtx) -> Self {
        Self { ctx }
    }

    pub fn trace(&self, level: String, message: String) {
        // The core suppresses these while replaying.
        self.ctx.trace(level, message);
    }

    pub fn is_replaying(&self) -> bool {
        self.ctx.is_replaying()
    }

    pub fn set_custom_status(&self, status: String) -> Result<()> {
        if status.len() > MAX_CUSTOM_STATUS_BYTES {
            return Err(DuroxideError::invalid(format!(
                "custom status is {} bytes; the limit is {MAX_CUSTOM_STATUS_BYTES}",
                status.len()
            )));
        }
        self.ctx.set_custom_status(status);
        Ok(())
    }

    pub fn reset_custom_status(&self) {
        self.ctx.reset_custom_status();
    }

    pub fn get_custom_status(&self) -> Option<String> {
        self.ctx.get_custom_status()
    }
}
