//! The context object a generator uses for the calls that do not yield.
//!
//! One object serves a generator for its whole life, across turns: each turn the driver
//! binds it to that turn's core context. Every effect and read is recorded in the
//! generator's [`Trace`], so a cached generator's turn can be replayed without Python.
//! While a fresh generator is caught up on a recorded trace, calls are checked against
//! the record instead: effects are not emitted twice and reads return what they returned.

use std::collections::HashMap;
use std::sync::Mutex;

use duroxide::runtime::limits::{MAX_CUSTOM_STATUS_BYTES, MAX_KV_KEYS, MAX_KV_VALUE_BYTES};
use duroxide::OrchestrationContext as CoreCtx;

use crate::ffi::error::{DuroxideError, Result};
use crate::orchestration::outcome::Outcome;
use crate::orchestration::tasks::Task;
use crate::orchestration::trace::{Effect, Interaction, Read, Trace};

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

#[derive(Default)]
struct Inner {
    ctx: Option<CoreCtx>,
    trace: Trace,
    /// While catching up: the index in `trace` of the next recorded interaction.
    catch_up: Option<usize>,
    /// What a caught-up generator did differently from its record.
    divergence: Option<String>,
    /// A verify-only run (a determinism check): bound to no context, nothing is emitted,
    /// and anything past the record is a divergence.
    verifying: bool,
    /// The custom status as this generator last set it (`Some(None)`: reset). The core
    /// re-applies the status inherited through continue_as_new after the first poll of
    /// every replay, over a set made before the first yield; reads go by this instead.
    custom_status: Option<Option<String>>,
}

#[derive(Default)]
pub struct OrchestrationContext {
    inner: Mutex<Inner>,
}

impl OrchestrationContext {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    // -- driver side ------------------------------------------------------------------------

    /// Points the object at this turn's core context (None between turns).
    pub fn bind(&self, ctx: Option<CoreCtx>) {
        self.lock().ctx = ctx;
    }

    pub fn take_trace(&self) -> Trace {
        std::mem::take(&mut self.lock().trace)
    }

    pub fn put_trace(&self, trace: Trace) {
        self.lock().trace = trace;
    }

    pub fn trace_bytes(&self) -> usize {
        self.lock().trace.bytes()
    }

    pub fn with_trace<T>(&self, f: impl FnOnce(&Trace) -> T) -> T {
        f(&self.lock().trace)
    }

    /// Starts catching a fresh generator up on `script` (ending with the yield whose
    /// outcome is new): its calls are checked against the record until the end.
    pub fn begin_catch_up(&self, script: Trace) {
        let mut inner = self.lock();
        inner.trace = script;
        inner.catch_up = Some(0);
        inner.divergence = None;
    }

    pub fn catching_up(&self) -> bool {
        self.lock().catch_up.is_some()
    }

    /// Starts a verify-only run of a fresh generator over `script`: like catching up,
    /// but the run never goes live (see [`Self::verify_yield`]).
    pub fn begin_verify(&self, script: Trace) {
        let mut inner = self.lock();
        inner.catch_up = (!script.items.is_empty()).then_some(0);
        inner.trace = script;
        inner.divergence = None;
        inner.verifying = true;
        inner.ctx = None;
    }

    /// Ends a verify-only run: the object is bound to nothing and its record is dropped.
    pub fn end_verify(&self) {
        let mut inner = self.lock();
        inner.verifying = false;
        inner.catch_up = None;
        inner.ctx = None;
        inner.trace = Trace::default();
    }

    /// The recorded interaction a catching-up or verifying generator meets next.
    pub fn next_recorded(&self) -> Option<Interaction> {
        let inner = self.lock();
        inner
            .catch_up
            .and_then(|c| inner.trace.items.get(c).cloned())
    }

    /// A yield of a verify-only run, checked against the record.
    pub fn verify_yield(&self, task: &Task) -> VerifiedYield {
        let mut inner = self.lock();
        let Some(cursor) = inner.catch_up else {
            return VerifiedYield::Mismatch(None);
        };
        match inner.trace.items.get(cursor) {
            Some(Interaction::Yield {
                task: expected,
                outcome,
                ..
            }) if expected.same_step(task) => match outcome.clone() {
                Some(outcome) => {
                    advance(&mut inner, cursor);
                    VerifiedYield::Answer(outcome)
                }
                None => VerifiedYield::Pending,
            },
            other => {
                let recorded = other.cloned();
                VerifiedYield::Mismatch(recorded)
            }
        }
    }

    /// A yield of the generator: recorded, or, while catching up, checked against the
    /// record and answered with the recorded outcome (`Ok(Some)`).
    pub fn on_yield(
        &self,
        task: &Task,
        at: Option<String>,
    ) -> std::result::Result<Option<Outcome>, String> {
        let mut inner = self.lock();
        let Some(cursor) = inner.catch_up else {
            inner.trace.push(Interaction::Yield {
                task: task.clone(),
                at,
                outcome: None,
            });
            return Ok(None);
        };
        let recorded = match inner.trace.items.get(cursor) {
            Some(Interaction::Yield {
                task: expected,
                outcome: Some(outcome),
                ..
            }) if expected.same_step(task) => outcome.clone(),
            other => {
                let message = format!(
                    "yielded {} where its first run did {}",
                    task.describe(),
                    describe_recorded(other)
                );
                inner.divergence = Some(message.clone());
                return Err(message);
            }
        };
        advance(&mut inner, cursor);
        Ok(Some(recorded))
    }

    /// Records the outcome the live generator is about to be sent.
    pub fn on_outcome(&self, outcome: &Outcome) {
        let mut inner = self.lock();
        if inner.catch_up.is_none() {
            inner.trace.resolve_last(outcome);
        }
    }

    pub fn take_divergence(&self) -> Option<String> {
        self.lock().divergence.take()
    }

    // -- foreign side ---------------------------------------------------------------------

    pub fn trace(&self, level: String, message: String) {
        let inner = self.lock();
        // A caught-up generator already logged this on its first run.
        if let (Some(ctx), None) = (&inner.ctx, inner.catch_up) {
            // The core suppresses these while replaying.
            ctx.trace(level, message);
        }
    }

    pub fn is_replaying(&self) -> bool {
        let inner = self.lock();
        inner.verifying || inner.ctx.as_ref().is_some_and(CoreCtx::is_replaying)
    }

    pub fn set_custom_status(&self, status: String) -> Result<()> {
        if status.len() > MAX_CUSTOM_STATUS_BYTES {
            return Err(DuroxideError::invalid(format!(
                "custom status is {} bytes; the limit is {MAX_CUSTOM_STATUS_BYTES} bytes",
                status.len()
            )));
        }
        self.effect(Effect::SetCustomStatus(status))
    }

    pub fn reset_custom_status(&self) -> Result<()> {
        self.effect(Effect::ResetCustomStatus)
    }

    pub fn get_custom_status(&self) -> Result<Option<String>> {
        let own = self.lock().custom_status.clone();
        self.read(
            |ctx| Read::CustomStatus(own.unwrap_or_else(|| ctx.get_custom_status())),
            &Read::CustomStatus(None),
            |r| match r {
                Read::CustomStatus(v) => v,
                _ => None,
            },
        )
    }

    pub fn set_kv_value(&self, key: String, value: String) -> Result<()> {
        validate_kv_key(&key)?;
        if value.len() > MAX_KV_VALUE_BYTES {
            return Err(DuroxideError::invalid(format!(
                "KV value for key {key:?} is {} bytes; the limit is {MAX_KV_VALUE_BYTES} bytes (MAX_KV_VALUE_BYTES)",
                value.len()
            )));
        }
        {
            let call = format!("set_kv_value({key:?})");
            let mut inner = self.lock();
            if let Some(cursor) = inner.catch_up {
                // A refusal the first run met is met again.
                if let Some(Interaction::Refused {
                    call: recorded,
                    message,
                }) = inner.trace.items.get(cursor)
                {
                    if *recorded == call {
                        let message = message.clone();
                        advance(&mut inner, cursor);
                        return Err(DuroxideError::invalid(message));
                    }
                }
            } else if let Some(ctx) = &inner.ctx {
                if ctx.get_kv_value(&key).is_none() && ctx.get_kv_length() >= MAX_KV_KEYS {
                    let message = format!(
                        "cannot add KV key {key:?}: the instance already holds {MAX_KV_KEYS} keys (MAX_KV_KEYS); clear or prune keys first"
                    );
                    inner.trace.push(Interaction::Refused {
                        call,
                        message: message.clone(),
                    });
                    return Err(DuroxideError::invalid(message));
                }
            }
        }
        self.effect(Effect::SetKv(key, value))
    }

    pub fn get_kv_value(&self, key: String) -> Result<Option<String>> {
        let probe = Read::KvValue {
            key: key.clone(),
            value: None,
        };
        self.read(
            |ctx| Read::KvValue {
                value: ctx.get_kv_value(&key),
                key: key.clone(),
            },
            &probe,
            |r| match r {
                Read::KvValue { value, .. } => value,
                _ => None,
            },
        )
    }

    pub fn get_kv_all_values(&self) -> Result<HashMap<String, String>> {
        self.read(
            |ctx| Read::KvAll(ctx.get_kv_all_values()),
            &Read::KvAll(HashMap::new()),
            |r| match r {
                Read::KvAll(m) => m,
                _ => HashMap::new(),
            },
        )
    }

    pub fn get_kv_all_keys(&self) -> Result<Vec<String>> {
        self.read(
            |ctx| Read::KvKeys(ctx.get_kv_all_keys()),
            &Read::KvKeys(Vec::new()),
            |r| match r {
                Read::KvKeys(k) => k,
                _ => Vec::new(),
            },
        )
    }

    pub fn get_kv_length(&self) -> Result<u64> {
        self.read(
            |ctx| Read::KvLength(ctx.get_kv_length() as u64),
            &Read::KvLength(0),
            |r| match r {
                Read::KvLength(n) => n,
                _ => 0,
            },
        )
    }

    pub fn clear_kv_value(&self, key: String) -> Result<()> {
        self.effect(Effect::ClearKv(key))
    }

    pub fn clear_all_kv_values(&self) -> Result<()> {
        self.effect(Effect::ClearAllKv)
    }

    pub fn prune_kv_values_updated_before(&self, updated_before_ms: u64) -> Result<u64> {
        let mut inner = self.lock();
        if inner.verifying && inner.catch_up.is_none() {
            let call = format!("prune_kv_values_updated_before({updated_before_ms})");
            return Err(diverged(&mut inner, &call, describe_recorded(None)));
        }
        if let Some(cursor) = inner.catch_up {
            return match inner.trace.items.get(cursor) {
                Some(Interaction::Effect(Effect::PruneKv { before_ms, cleared }))
                    if *before_ms == updated_before_ms =>
                {
                    let n = cleared.len() as u64;
                    advance(&mut inner, cursor);
                    Ok(n)
                }
                other => {
                    let recorded = describe_recorded(other);
                    Err(diverged(
                        &mut inner,
                        &format!("prune_kv_values_updated_before({updated_before_ms})"),
                        recorded,
                    ))
                }
            };
        }
        let ctx = bound(&inner)?.clone();
        let before: Vec<String> = ctx.get_kv_all_keys();
        ctx.prune_kv_values_updated_before(updated_before_ms);
        let after: std::collections::HashSet<String> = ctx.get_kv_all_keys().into_iter().collect();
        let cleared: Vec<String> = before.into_iter().filter(|k| !after.contains(k)).collect();
        let n = cleared.len() as u64;
        inner.trace.push(Interaction::Effect(Effect::PruneKv {
            before_ms: updated_before_ms,
            cleared,
        }));
        Ok(n)
    }

    /// Emits and records an effect, or checks it against the record while catching up.
    fn effect(&self, effect: Effect) -> Result<()> {
        let mut inner = self.lock();
        if inner.verifying && inner.catch_up.is_none() {
            return Err(diverged(
                &mut inner,
                &format!("{effect:?}"),
                describe_recorded(None),
            ));
        }
        if let Some(cursor) = inner.catch_up {
            return match inner.trace.items.get(cursor) {
                Some(Interaction::Effect(recorded)) if *recorded == effect => {
                    advance(&mut inner, cursor);
                    note_custom_status(&mut inner, &effect);
                    Ok(())
                }
                other => {
                    let recorded = describe_recorded(other);
                    Err(diverged(&mut inner, &format!("{effect:?}"), recorded))
                }
            };
        }
        effect.apply(bound(&inner)?);
        note_custom_status(&mut inner, &effect);
        inner.trace.push(Interaction::Effect(effect));
        Ok(())
    }

    /// Reads from the context and records the answer, or answers from the record while
    /// catching up.
    fn read<T>(
        &self,
        live: impl FnOnce(&CoreCtx) -> Read,
        probe: &Read,
        unpack: impl FnOnce(Read) -> T,
    ) -> Result<T> {
        let mut inner = self.lock();
        if inner.verifying && inner.catch_up.is_none() {
            return Err(diverged(
                &mut inner,
                &format!("{probe:?}"),
                describe_recorded(None),
            ));
        }
        if let Some(cursor) = inner.catch_up {
            return match inner.trace.items.get(cursor) {
                Some(Interaction::Read(recorded)) if recorded.same_call(probe) => {
                    let answer = recorded.clone();
                    advance(&mut inner, cursor);
                    Ok(unpack(answer))
                }
                other => {
                    let recorded = describe_recorded(other);
                    Err(diverged(&mut inner, &format!("{probe:?}"), recorded))
                }
            };
        }
        let answer = live(bound(&inner)?);
        inner.trace.push(Interaction::Read(answer.clone()));
        Ok(unpack(answer))
    }
}

/// What a verify-only run's yield met in the record.
pub enum VerifiedYield {
    /// The same task, answered with its recorded outcome.
    Answer(Outcome),
    /// The same task as the one the cached generator waits for: the check is done.
    Pending,
    /// Something else was recorded here (None: nothing more).
    Mismatch(Option<Interaction>),
}

fn note_custom_status(inner: &mut Inner, effect: &Effect) {
    match effect {
        Effect::SetCustomStatus(s) => inner.custom_status = Some(Some(s.clone())),
        Effect::ResetCustomStatus => inner.custom_status = Some(None),
        _ => {}
    }
}

fn bound(inner: &Inner) -> Result<&CoreCtx> {
    inner.ctx.as_ref().ok_or_else(|| {
        DuroxideError::closed(
            "the orchestration context is not active: it can only be used while the orchestration runs (not after it returned, nor from another thread)",
        )
    })
}

/// Moves the catch-up cursor past `cursor`; catching up ends after the last record.
fn advance(inner: &mut Inner, cursor: usize) {
    let next = cursor + 1;
    inner.catch_up = (next < inner.trace.items.len()).then_some(next);
}

fn diverged(inner: &mut Inner, call: &str, recorded: String) -> DuroxideError {
    let message = format!("called {call} where its first run did {recorded}");
    inner.divergence = Some(message.clone());
    DuroxideError::internal(format!("nondeterministic orchestration: {message}"))
}

pub fn describe_recorded(item: Option<&Interaction>) -> String {
    match item {
        None => "nothing more".into(),
        Some(Interaction::Yield { task, .. }) => format!("yield {}", task.describe()),
        Some(Interaction::Effect(e)) => format!("{e:?}"),
        Some(Interaction::Read(r)) => format!("{r:?}"),
        Some(Interaction::Refused { call, .. }) => format!("{call} (refused)"),
    }
}

fn validate_kv_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(DuroxideError::invalid("KV key is empty"));
    }
    Ok(())
}
