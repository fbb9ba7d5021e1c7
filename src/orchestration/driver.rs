//! Drives one foreign orchestration generator inside the core's replay engine.
//!
//! The engine builds a fresh handler future every turn, polls it with a no-op waker and
//! replays the whole history (research note §5). This future therefore:
//! - advances the generator as far as it can in every poll (resumes it as long as the
//!   task it yielded is already complete, as during replay);
//! - returns `Pending` only when a durable future is pending;
//! - schedules each yielded task inside the poll, in yield order;
//! - owns every durable future, so no foreign garbage collector can cancel one.
//!
//! **Replay without Python.** When the instance's generator from an earlier turn is in the
//! replay cache, the turn starts from its recorded [`Trace`]: recorded effects and tasks
//! are re-issued on the new context in Rust and each outcome the engine delivers is
//! compared with the recorded one. Python runs only for what is new: the outcome the live
//! generator is waiting for, and what it does next. If a delivered outcome differs from
//! the record, a fresh generator is started and caught up on the record up to that point
//! (answered from it, nothing emitted twice), then carries on: the result is what a full
//! replay would have given.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use duroxide::OrchestrationContext as CoreCtx;

use crate::ffi::interpreter;
use crate::orchestration::combinators::TaskFuture;
use crate::orchestration::generator::{Generator, OrchestrationStepper, Step};
use crate::orchestration::nondeterminism::YieldNote;
use crate::orchestration::outcome::Outcome;
use crate::orchestration::parked::ParkedTurn;
use crate::orchestration::replay_cache::ReplayCache;
use crate::orchestration::schedule::{self, Known};
use crate::orchestration::tasks::Task;
use crate::orchestration::trace::{Interaction, Trace};
use crate::orchestration::verify::{self, CheckStats, DeterminismChecks, RecordEnd};
use crate::store::events::StoreEvents;

/// Counters of what the drivers of one runtime did (`Runtime.driver_stats`).
#[derive(Default)]
pub struct DriverStats {
    /// Turns begun (each poll of a new orchestration future by the core).
    pub turns: AtomicU64,
    pub foreign_steps: AtomicU64,
    pub replayed_steps: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub catch_ups: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Shared by every driver of one runtime.
pub struct DriverEnv {
    pub stepper: Arc<dyn OrchestrationStepper>,
    pub known: Known,
    pub cache: Arc<ReplayCache>,
    pub events: Arc<StoreEvents>,
    pub stats: DriverStats,
    pub checks: DeterminismChecks,
    pub check_stats: CheckStats,
}

enum Phase {
    Begin {
        input: String,
    },
    /// Re-issuing a cached generator's record; `trace.items[index]` comes next.
    Replay {
        generator: Generator,
        trace: Trace,
        index: usize,
        pending: Option<TaskFuture>,
    },
    /// The generator waits for `pending`.
    Live {
        generator: Generator,
        pending: TaskFuture,
    },
    Finished,
}

pub struct OrchestrationDriver {
    env: Arc<DriverEnv>,
    ctx: CoreCtx,
    phase: Phase,
    /// Yields so far in this execution (the step number in failure messages).
    yields: usize,
    /// The last yield of the turn, once the turn is over.
    last_yield: Option<YieldNote>,
    /// The nondeterminism failure this driver found, if it ended the turn with one.
    divergence: Option<String>,
    /// A check due at this turn's start, run before the turn schedules anything new. A
    /// turn that ends the execution drops it (the check before the end covers its record),
    /// and so does one that never steps the generator (its record has not changed: the
    /// next check covers it).
    deferred_check: Option<Trace>,
}

type Turn = Poll<Result<String, String>>;

impl OrchestrationDriver {
    pub fn new(env: Arc<DriverEnv>, ctx: CoreCtx, input: String) -> Self {
        Self {
            env,
            ctx,
            phase: Phase::Begin { input },
            yields: 0,
            last_yield: None,
            divergence: None,
            deferred_check: None,
        }
    }

    fn begin(&mut self, input: String, cx: &mut Context<'_>) -> Turn {
        bump(&self.env.stats.turns);
        let instance = self.ctx.instance_id();
        self.env.events.discard_turn(&instance);
        let cached = self.env.cache.take(&instance);
        // Not replaying on the first poll means this is the execution's first turn: a
        // generator cached under the same id belongs to an earlier incarnation.
        let usable = cached.filter(|g| self.ctx.is_replaying() && g.serves(&self.ctx, &input));
        match usable {
            Some(mut generator) => {
                bump(&self.env.stats.cache_hits);
                generator.handle.bind(Some(self.ctx.clone()));
                let trace = generator.handle.take_trace();
                generator.cached_turns += 1;
                if self.env.checks.due(generator.cached_turns) {
                    self.deferred_check = Some(trace.clone());
                }
                self.replay(generator, trace, 0, None, cx)
            }
            None => {
                if self.env.cache.enabled() && self.ctx.is_replaying() {
                    bump(&self.env.stats.cache_misses);
                }
                let generator = Generator::new(self.env.stepper.clone(), &self.ctx, input);
                let step = generator.start();
                bump(&self.env.stats.foreign_steps);
                self.on_step(generator, step, cx)
            }
        }
    }

    /// Walks a cached generator's record: effects are emitted again, tasks scheduled again
    /// and their outcomes checked, until the task the generator is suspended on.
    fn replay(
        &mut self,
        generator: Generator,
        trace: Trace,
        mut index: usize,
        mut pending: Option<TaskFuture>,
        cx: &mut Context<'_>,
    ) -> Turn {
        loop {
            let (task, recorded) = match trace.items.get(index) {
                Some(Interaction::Effect(effect)) => {
                    effect.apply(&self.ctx);
                    index += 1;
                    continue;
                }
                Some(Interaction::Read(_) | Interaction::Refused { .. }) => {
                    index += 1;
                    continue;
                }
                Some(Interaction::Yield { task, outcome, .. }) => (task, outcome),
                None => {
                    // A record always ends at a pending yield.
                    let message = "internal error: a cached orchestration record ended without a pending step";
                    return self.finish(Some(generator), Err(message.into()));
                }
            };
            if pending.is_none() {
                self.yields += 1;
                match schedule::build(&self.ctx, task, &self.env.known) {
                    Ok(fut) => pending = Some(fut),
                    Err(message) => return self.finish(Some(generator), Err(message)),
                }
            }
            let fut = pending.as_mut().expect("built above");
            let outcome = match fut.as_mut().poll(cx) {
                Poll::Pending => {
                    self.phase = Phase::Replay {
                        generator,
                        trace,
                        index,
                        pending,
                    };
                    return Poll::Pending;
                }
                Poll::Ready(outcome) => outcome,
            };
            pending = None;
            let same = recorded.as_ref().map(|known| *known == outcome);
            match same {
                Some(true) => {
                    bump(&self.env.stats.replayed_steps);
                    index += 1;
                }
                Some(false) => return self.catch_up(generator, trace, index, outcome, cx),
                None => {
                    // The step the live generator waits for: Python takes over from here.
                    generator.handle.put_trace(trace);
                    return self.resume(generator, outcome, cx);
                }
            }
        }
    }

    /// The engine delivered an outcome that differs from the record at `index`: replace
    /// the cached generator by a fresh one caught up on the record up to there.
    fn catch_up(
        &mut self,
        stale: Generator,
        mut trace: Trace,
        index: usize,
        outcome: Outcome,
        cx: &mut Context<'_>,
    ) -> Turn {
        bump(&self.env.stats.catch_ups);
        self.deferred_check = None; // the fresh generator replays the whole record
        let input = stale.input.clone();
        drop(stale);
        trace.truncate(index + 1);
        trace.resolve_last(&outcome);
        let generator = Generator::new(self.env.stepper.clone(), &self.ctx, input);
        generator.handle.begin_catch_up(trace);
        self.yields = 0;
        let step = generator.start();
        bump(&self.env.stats.foreign_steps);
        self.on_step(generator, step, cx)
    }

    fn resume(&mut self, generator: Generator, outcome: Outcome, cx: &mut Context<'_>) -> Turn {
        generator.handle.on_outcome(&outcome);
        let (kind, payload) = outcome.into_wire();
        let step = generator.resume(kind, payload);
        bump(&self.env.stats.foreign_steps);
        self.on_step(generator, step, cx)
    }

    /// Acts on what the generator did: schedules what it yielded and polls it at once.
    fn on_step(
        &mut self,
        mut generator: Generator,
        step: Result<String, String>,
        cx: &mut Context<'_>,
    ) -> Turn {
        let step = Step::parse(step);
        if let Some(divergence) = generator.handle.take_divergence() {
            let message = self.diverged(&divergence);
            return self.finish_diverged(Some(generator), message);
        }
        let (task, at) = match step {
            Ok(Step::Yield { task, at }) => (task, at),
            Ok(Step::Return(output)) => {
                self.deferred_check = None;
                generator.mark_finished();
                if self.ctx.is_replaying() {
                    // A generator can only finish on something new: the engine is still
                    // walking recorded steps, so the code took fewer steps than history.
                    let message = self.returned_early(&generator);
                    return self.finish_diverged(Some(generator), message);
                }
                if let Err(divergence) = self.check_before_end(&generator, true) {
                    return self.finish_diverged(Some(generator), divergence);
                }
                return self.finish(Some(generator), Ok(output));
            }
            Ok(Step::Fail(message)) => {
                self.deferred_check = None;
                generator.mark_finished();
                if let Err(divergence) = self.check_before_end(&generator, false) {
                    return self.finish_diverged(Some(generator), divergence);
                }
                return self.finish(Some(generator), Err(message));
            }
            Err(message) => return self.finish(Some(generator), Err(message)),
        };
        self.yields += 1;
        match generator.handle.on_yield(&task, at) {
            // Catching up: answered from the record, already scheduled this turn.
            Ok(Some(recorded)) => return self.resume(generator, recorded, cx),
            Ok(None) => {}
            Err(divergence) => {
                let message = self.diverged(&divergence);
                return self.finish_diverged(Some(generator), message);
            }
        }
        let checked = if matches!(task, Task::Can { .. }) {
            // Continuing as new ends the execution: the last chance to check it.
            self.deferred_check = None;
            self.check_before_end(&generator, true)
        } else {
            self.run_deferred_check(&generator)
        };
        if let Err(message) = checked {
            return self.finish_diverged(Some(generator), message);
        }
        let mut pending = match schedule::build(&self.ctx, &task, &self.env.known) {
            Ok(fut) => fut,
            Err(message) => return self.finish(Some(generator), Err(message)),
        };
        match pending.as_mut().poll(cx) {
            Poll::Pending => {
                self.phase = Phase::Live { generator, pending };
                Poll::Pending
            }
            Poll::Ready(outcome) => self.resume(generator, outcome, cx),
        }
    }

    fn run_deferred_check(&mut self, generator: &Generator) -> Result<(), String> {
        match self.deferred_check.take() {
            Some(record) => self.check(generator, &record, RecordEnd::Pending),
            None => Ok(()),
        }
    }

    /// A determinism check of `generator`'s record (see `verify`).
    fn check(&self, generator: &Generator, record: &Trace, end: RecordEnd) -> Result<(), String> {
        verify::check(
            &self.env.stepper,
            generator,
            record,
            end,
            &self.env.check_stats,
        )
    }

    /// Before a generator that served turns from the cache ends the execution (`returned`:
    /// by returning or continuing as new; else by raising), prove its record replays.
    fn check_before_end(&self, generator: &Generator, returned: bool) -> Result<(), String> {
        if !self.env.checks.before_end(generator.cached_turns) {
            return Ok(());
        }
        let record = generator.handle.with_trace(Trace::clone);
        let pending = matches!(
            record.items.last(),
            Some(Interaction::Yield { outcome: None, .. })
        );
        let end = if pending {
            RecordEnd::Pending
        } else {
            RecordEnd::Finished(returned)
        };
        self.check(generator, &record, end)
    }

    fn returned_early(&self, generator: &Generator) -> String {
        let last = generator
            .handle
            .with_trace(|t| self.note_of(generator, t.last_yield()));
        let after = match last {
            Some(note) => format!(
                " after step {}, {}{}",
                note.step,
                note.yielded,
                note.at.map(|a| format!(" at {a}")).unwrap_or_default()
            ),
            None => " before its first step".into(),
        };
        format!(
            "nondeterministic: orchestration '{}@{}' diverged from its history: the code returned{after}, \
             but the history records more steps. An instance that is already running must replay the same \
             steps in the same order. Restore the old code path, or register the change as a new version \
             (register_orchestration_versioned) so running instances keep the old one.",
            generator.info.orchestration_name, generator.info.orchestration_version
        )
    }

    fn diverged(&self, what: &str) -> String {
        format!(
            "nondeterministic: orchestration '{}' replayed differently from its first run: it {what}. \
             Orchestration code must not depend on anything but its input and the results it yields for \
             (no clocks, random numbers, I/O or mutable globals).",
            self.ctx.orchestration_name()
        )
    }

    /// Ends the turn with a nondeterminism failure the driver found (recorded as one).
    fn finish_diverged(&mut self, generator: Option<Generator>, message: String) -> Turn {
        self.divergence = Some(message.clone());
        self.finish(generator, Err(message))
    }

    fn finish(&mut self, generator: Option<Generator>, result: Result<String, String>) -> Turn {
        if let Some(g) = &generator {
            self.last_yield = g.handle.with_trace(|t| self.note_of(g, t.last_yield()));
        }
        drop(generator);
        self.phase = Phase::Finished;
        Poll::Ready(result)
    }

    /// The failure-message note for `item`, when it is a yield.
    fn note_of(&self, generator: &Generator, item: Option<&Interaction>) -> Option<YieldNote> {
        let Some(Interaction::Yield { task, at, .. }) = item else {
            return None;
        };
        Some(YieldNote {
            orchestration: format!(
                "{}@{}",
                generator.info.orchestration_name, generator.info.orchestration_version
            ),
            step: self.yields,
            yielded: task.describe(),
            at: at.clone(),
        })
    }

    /// Leaves a suspended generator for the replay cache (it enters once this turn is
    /// committed), or lets it go; and the turn's last yield, for failure messages.
    fn park(&mut self, generator: Option<Generator>, last_yield: Option<YieldNote>) {
        let parked = generator
            .filter(|g| self.env.cache.enabled() && interpreter::alive() && !g.handle.catching_up())
            .map(|g| {
                g.handle.bind(None);
                (g, Arc::downgrade(&self.env.cache))
            });
        self.env.events.end_turn(
            self.ctx.instance_id(),
            Box::new(ParkedTurn {
                generator: parked,
                last_yield,
                divergence: self.divergence.take(),
            }),
        );
    }
}

impl Future for OrchestrationDriver {
    type Output = Result<String, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !interpreter::alive() {
            // The interpreter is exiting: make no progress; the instance stays durable
            // and resumes in the next process.
            return Poll::Pending;
        }
        match std::mem::replace(&mut this.phase, Phase::Finished) {
            Phase::Begin { input } => this.begin(input, cx),
            Phase::Replay {
                generator,
                trace,
                index,
                pending,
            } => this.replay(generator, trace, index, pending, cx),
            Phase::Live {
                generator,
                mut pending,
            } => match pending.as_mut().poll(cx) {
                Poll::Pending => {
                    this.phase = Phase::Live { generator, pending };
                    Poll::Pending
                }
                Poll::Ready(outcome) => this.resume(generator, outcome, cx),
            },
            Phase::Finished => Poll::Pending,
        }
    }
}

impl Drop for OrchestrationDriver {
    fn drop(&mut self) {
        // The turn is over. Pending tasks are dropped (not a cancellation at this point:
        // the engine has finalised the turn).
        let (generator, last_yield) = match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Live { generator, pending } => {
                drop(pending);
                let note = generator
                    .handle
                    .with_trace(|t| self.note_of(&generator, t.last_yield()));
                (Some(generator), note)
            }
            Phase::Replay {
                generator,
                trace,
                index,
                pending,
            } => {
                drop(pending);
                let note = self.note_of(&generator, trace.items.get(index));
                generator.handle.put_trace(trace);
                (Some(generator), note)
            }
            Phase::Begin { .. } | Phase::Finished => (None, self.last_yield.take()),
        };
        self.park(generator, last_yield);
    }
}
