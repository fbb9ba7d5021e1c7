//! The callback interfaces the foreign language implements, and the switch that stops
//! Rust from calling into it once its interpreter is going away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::activity::{ActivityCompletion, ActivityContext, ActivityInfo};
use crate::error::DuroxideError;
use crate::orchestration_context::{OrchestrationContext, OrchestrationInfo};

/// Steps orchestration generators. See `OrchestrationStepper` in `udl/duroxide.udl`.
pub trait OrchestrationStepper: Send + Sync {
    fn start(
        &self,
        generator_id: u64,
        ctx: Arc<OrchestrationContext>,
        info: OrchestrationInfo,
        input: String,
    ) -> Result<String, DuroxideError>;
    fn resume(
        &self,
        generator_id: u64,
        outcome_kind: u8,
        payload: String,
    ) -> Result<String, DuroxideError>;
    fn release(&self, generator_id: u64) -> Result<(), DuroxideError>;
}

/// Runs activity functions. See `ActivityInvoker` in `udl/duroxide.udl`.
pub trait ActivityInvoker: Send + Sync {
    fn invoke(
        &self,
        ctx: Arc<ActivityContext>,
        info: ActivityInfo,
        input: String,
        completion: Arc<ActivityCompletion>,
    ) -> Result<(), DuroxideError>;
}

static FOREIGN_ALIVE: AtomicBool = AtomicBool::new(true);

/// False once `shutdown_all` ran: the interpreter is exiting and must not be entered.
pub fn alive() -> bool {
    FOREIGN_ALIVE.load(Ordering::Acquire)
}

pub fn mark_exiting() {
    FOREIGN_ALIVE.store(false, Ordering::Release);
}
