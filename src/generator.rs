//! A foreign orchestration generator, as Rust holds it between its steps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use duroxide::OrchestrationContext as CoreCtx;

use crate::foreign::{self, OrchestrationStepper};
use crate::orchestration_context::{OrchestrationContext, OrchestrationInfo};

static NEXT_GENERATOR_ID: AtomicU64 = AtomicU64::new(1);

/// One generator the foreign side keeps suspended under `id`, with the context object it
/// was created with. Dropping it tells the foreign side to close the generator.
pub struct Generator {
    pub id: u64,
    pub handle: Arc<OrchestrationContext>,
    pub info: OrchestrationInfo,
    pub input: String,
    stepper: Arc<dyn OrchestrationStepper>,
    /// The foreign side already forgot it (it returned or raised).
    finished: bool,
}

impl Generator {
    pub fn new(stepper: Arc<dyn OrchestrationStepper>, ctx: &CoreCtx, input: String) -> Self {
        let handle = Arc::new(OrchestrationContext::default());
        handle.bind(Some(ctx.clone()));
        Self {
            id: NEXT_GENERATOR_ID.fetch_add(1, Ordering::Relaxed),
            handle,
            info: OrchestrationInfo::of(ctx),
            input,
            stepper,
            finished: false,
        }
    }

    /// Creates the foreign generator and runs it to its first step.
    pub fn start(&self) -> Result<String, String> {
        self.stepper
            .start(
                self.id,
                self.handle.clone(),
                self.info.clone(),
                self.input.clone(),
            )
            .map_err(|e| format!("the orchestration driver failed to start the generator: {e}"))
    }

    /// Sends an outcome and runs the generator to its next step.
    pub fn resume(&self, kind: u8, payload: String) -> Result<String, String> {
        self.stepper
            .resume(self.id, kind, payload)
            .map_err(|e| format!("the orchestration driver failed to resume the generator: {e}"))
    }

    pub fn mark_finished(&mut self) {
        self.finished = true;
    }

    /// True when this generator belongs to `ctx`'s execution and was started with `input`.
    pub fn serves(&self, ctx: &CoreCtx, input: &str) -> bool {
        self.info.execution_id == ctx.execution_id()
            && self.info.orchestration_name == ctx.orchestration_name()
            && self.info.orchestration_version == ctx.orchestration_version()
            && self.input == input
    }

    /// Memory the cache attributes to this generator.
    pub fn bytes(&self) -> usize {
        self.handle.trace_bytes() + self.input.len() + 512
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.handle.bind(None);
        if !self.finished && foreign::alive() {
            let _ = self.stepper.release(self.id);
        }
    }
}
