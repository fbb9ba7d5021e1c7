//! A foreign orchestration generator, as Rust holds it between its steps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use duroxide::OrchestrationContext as CoreCtx;
use serde::Deserialize;

use crate::ffi::error::DuroxideError;
use crate::ffi::interpreter;
use crate::orchestration::context::{OrchestrationContext, OrchestrationInfo};
use crate::orchestration::tasks::Task;

/// Creates and steps orchestration generators; the foreign side implements it. See
/// `OrchestrationStepper` in `udl/duroxide.udl`.
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

/// One generator step, as the stepper reports it (JSON).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Yield {
        task: Task,
        /// `file:line` of the `yield`.
        #[serde(default)]
        at: Option<String>,
    },
    Return(String),
    Fail(String),
}

impl Step {
    /// Parses what `start`/`resume` returned.
    pub fn parse(step: Result<String, String>) -> Result<Step, String> {
        step.and_then(|json| {
            serde_json::from_str::<Step>(&json).map_err(|e| {
                format!("the orchestration driver sent a malformed step ({e}): {json}")
            })
        })
    }
}

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
    /// Turns it was taken out of the replay cache for (the determinism checks' schedule).
    pub cached_turns: u64,
}

impl Generator {
    pub fn new(stepper: Arc<dyn OrchestrationStepper>, ctx: &CoreCtx, input: String) -> Self {
        let generator = Self::detached(stepper, OrchestrationInfo::of(ctx), input);
        generator.handle.bind(Some(ctx.clone()));
        generator
    }

    /// A generator whose context object is bound to no turn (a verify-only run).
    pub fn detached(
        stepper: Arc<dyn OrchestrationStepper>,
        info: OrchestrationInfo,
        input: String,
    ) -> Self {
        Self {
            id: NEXT_GENERATOR_ID.fetch_add(1, Ordering::Relaxed),
            handle: Arc::new(OrchestrationContext::default()),
            info,
            input,
            stepper,
            finished: false,
            cached_turns: 0,
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
        if !self.finished && interpreter::alive() {
            let _ = self.stepper.release(self.id);
        }
    }
}
