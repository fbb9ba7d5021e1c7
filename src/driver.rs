//! Drives one foreign orchestration generator inside the core's replay engine.
//!
//! The engine builds a fresh handler future every turn and polls it with a no-op waker
//! (research note §5). This future therefore:
//! - advances the generator as far as it can in every poll (resumes it as long as the
//!   task it yielded is already complete, as during replay);
//! - returns `Pending` only when a durable future is pending;
//! - schedules each yielded task inside the poll, in yield order;
//! - owns every durable future, so no foreign garbage collector can cancel one.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use duroxide::OrchestrationContext as CoreCtx;
use serde::Deserialize;

use crate::combinators::TaskFuture;
use crate::foreign::{self, OrchestrationStepper};
use crate::orchestration_context::{OrchestrationContext, OrchestrationInfo};
use crate::tasks::{self, Known, Task};

/// One generator step, as the stepper reports it.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    Yield(Task),
    Return(String),
    Fail(String),
}

/// Shared by every driver of one runtime.
pub struct DriverEnv {
    pub stepper: Arc<dyn OrchestrationStepper>,
    pub known: Known,
}

static NEXT_GENERATOR_ID: AtomicU64 = AtomicU64::new(1);

enum State {
    NotStarted { input: String },
    Awaiting(TaskFuture),
    Finished,
}

pub struct OrchestrationDriver {
    env: Arc<DriverEnv>,
    ctx: CoreCtx,
    generator_id: u64,
    /// The foreign side holds a suspended generator for `generator_id`.
    generator_live: bool,
    state: State,
}

impl OrchestrationDriver {
    pub fn new(env: Arc<DriverEnv>, ctx: CoreCtx, input: String) -> Self {
        Self {
            env,
            ctx,
            generator_id: NEXT_GENERATOR_ID.fetch_add(1, Ordering::Relaxed),
            generator_live: false,
            state: State::NotStarted { input },
        }
    }

    fn start(&mut self, input: String) -> Result<String, String> {
        let handle = Arc::new(OrchestrationContext::new(self.ctx.clone()));
        let info = OrchestrationInfo::of(&self.ctx);
        self.generator_live = true;
        self.env
            .stepper
            .start(self.generator_id, handle, info, input)
            .map_err(|e| format!("the orchestration driver failed to start the generator: {e}"))
    }

    fn resume(&mut self, outcome: crate::outcome::Outcome) -> Result<String, String> {
        let (kind, payload) = outcome.into_wire();
        self.env
            .stepper
            .resume(self.generator_id, kind, payload)
            .map_err(|e| format!("the orchestration driver failed to resume the generator: {e}"))
    }

    fn finish(&mut self, result: Result<String, String>) -> Poll<Result<String, String>> {
        self.state = State::Finished;
        Poll::Ready(result)
    }
}

impl Future for OrchestrationDriver {
    type Output = Result<String, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if !foreign::alive() {
                // The interpreter is exiting: make no progress; the instance stays
                // durable and resumes in the next process.
                return Poll::Pending;
            }
            let step = match std::mem::replace(&mut this.state, State::Finished) {
                State::NotStarted { input } => this.start(input),
                State::Awaiting(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Awaiting(fut);
                        return Poll::Pending;
                    }
                    Poll::Ready(outcome) => this.resume(outcome),
                },
                State::Finished => return Poll::Pending,
            };
            let step = step.and_then(|json| {
                serde_json::from_str::<Step>(&json).map_err(|e| {
                    format!("the orchestration driver sent a malformed step ({e}): {json}")
                })
            });
            match step {
                Ok(Step::Yield(task)) => match tasks::build(&this.ctx, task, &this.env.known) {
                    Ok(fut) => this.state = State::Awaiting(fut),
                    Err(message) => return this.finish(Err(message)),
                },
                Ok(Step::Return(output)) => {
                    this.generator_live = false;
                    return this.finish(Ok(output));
                }
                Ok(Step::Fail(message)) => {
                    this.generator_live = false;
                    return this.finish(Err(message));
                }
                Err(message) => return this.finish(Err(message)),
            }
        }
    }
}

impl Drop for OrchestrationDriver {
    fn drop(&mut self) {
        // The turn is over: drop the pending task (not a cancellation at this point, the
        // engine has finalised the turn) and let the foreign side forget the generator.
        self.state = State::Finished;
        if self.generator_live && foreign::alive() {
            let _ = self.env.stepper.release(self.generator_id);
        }
    }
}
