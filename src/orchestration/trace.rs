//! What one orchestration generator did, in order: the tasks it yielded with the outcomes
//! it was sent, and the context calls it made between yields.
//!
//! The replay cache keeps this beside a suspended generator. A later turn re-issues the
//! effects and tasks on the new context from here, without calling Python, and resumes the
//! live generator only with what is new. If the engine then delivers an outcome that
//! differs from the recorded one, a fresh generator is caught up from this log instead
//! (its reads answered from the recorded values) and the turn goes on with it.

use std::collections::HashMap;

use duroxide::OrchestrationContext as CoreCtx;

use crate::orchestration::outcome::Outcome;
use crate::orchestration::tasks::Task;

/// A context call that emits an action (the engine compares these on replay).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    SetCustomStatus(String),
    ResetCustomStatus,
    SetKv(String, String),
    ClearKv(String),
    ClearAllKv,
    /// `prune_kv_values_updated_before(before_ms)` and the keys it cleared, in order.
    PruneKv {
        before_ms: u64,
        cleared: Vec<String>,
    },
}

impl Effect {
    /// Emits the effect's actions on `ctx` again, as the recorded call did.
    pub fn apply(&self, ctx: &CoreCtx) {
        match self {
            Effect::SetCustomStatus(s) => ctx.set_custom_status(s.clone()),
            Effect::ResetCustomStatus => ctx.reset_custom_status(),
            Effect::SetKv(k, v) => ctx.set_kv_value(k.clone(), v.clone()),
            Effect::ClearKv(k) => ctx.clear_kv_value(k.clone()),
            Effect::ClearAllKv => ctx.clear_all_kv_values(),
            Effect::PruneKv { cleared, .. } => {
                for key in cleared {
                    ctx.clear_kv_value(key.clone());
                }
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Effect::SetCustomStatus(s) | Effect::ClearKv(s) => s.len(),
            Effect::SetKv(k, v) => k.len() + v.len(),
            Effect::PruneKv { cleared, .. } => cleared.iter().map(String::len).sum(),
            Effect::ResetCustomStatus | Effect::ClearAllKv => 0,
        }
    }
}

/// A context call that only reads, with what it returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    CustomStatus(Option<String>),
    KvValue { key: String, value: Option<String> },
    KvAll(HashMap<String, String>),
    KvKeys(Vec<String>),
    KvLength(u64),
}

impl Read {
    /// True when `self` is the same call (kind and arguments) as `other`.
    pub fn same_call(&self, other: &Read) -> bool {
        match (self, other) {
            (Read::KvValue { key: a, .. }, Read::KvValue { key: b, .. }) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Read::CustomStatus(s) => s.as_ref().map_or(0, String::len),
            Read::KvValue { key, value } => key.len() + value.as_ref().map_or(0, String::len),
            Read::KvAll(map) => map.iter().map(|(k, v)| k.len() + v.len()).sum(),
            Read::KvKeys(keys) => keys.iter().map(String::len).sum(),
            Read::KvLength(_) => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Interaction {
    Effect(Effect),
    Read(Read),
    /// A context call the live context refused with `message` for a reason a replay
    /// cannot see (the instance's KV key limit): replays refuse it the same way.
    Refused {
        call: String,
        message: String,
    },
    /// A yielded task; `outcome` is None while the generator waits for it.
    Yield {
        task: Task,
        at: Option<String>,
        outcome: Option<Outcome>,
    },
}

/// The ordered interactions of one generator, with an estimate of their size.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    pub items: Vec<Interaction>,
    bytes: usize,
}

/// Fixed overhead counted per interaction, on top of its strings.
const ITEM_OVERHEAD: usize = 64;

impl Trace {
    pub fn push(&mut self, item: Interaction) {
        self.bytes += ITEM_OVERHEAD
            + match &item {
                Interaction::Effect(e) => e.bytes(),
                Interaction::Read(r) => r.bytes(),
                Interaction::Refused { call, message } => call.len() + message.len(),
                Interaction::Yield { task, outcome, .. } => {
                    task.bytes() + outcome.as_ref().map_or(0, Outcome::bytes)
                }
            };
        self.items.push(item);
    }

    /// Records the outcome sent for the last yield.
    pub fn resolve_last(&mut self, value: &Outcome) {
        if let Some(Interaction::Yield { outcome, .. }) = self.items.last_mut() {
            let old = outcome.as_ref().map_or(0, Outcome::bytes);
            self.bytes = self.bytes + value.bytes() - old.min(self.bytes);
            *outcome = Some(value.clone());
        }
    }

    /// Keeps the first `len` interactions.
    pub fn truncate(&mut self, len: usize) {
        self.items.truncate(len);
        let rebuilt: Vec<Interaction> = std::mem::take(&mut self.items);
        self.bytes = 0;
        for item in rebuilt {
            self.push(item);
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The most recent yield.
    pub fn last_yield(&self) -> Option<&Interaction> {
        self.items
            .iter()
            .rev()
            .find(|i| matches!(i, Interaction::Yield { .. }))
    }
}
