//! Determinism checks that survive the replay cache.
//!
//! A cached generator is never re-run, so code that yields differently when re-run would
//! pass unnoticed until the instance is next replayed from history (a restart, an
//! eviction, another worker), months later. A check re-runs the orchestration in a fresh
//! generator over the cached one's record in a verify-only mode: its yields are answered
//! with the recorded outcomes, its effects and reads are compared with the recorded ones,
//! and nothing is emitted (no actions, traces or effects). Any difference fails the
//! instance with the same kind of message a replay from history gives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::orchestration::context::{describe_recorded, VerifiedYield};
use crate::orchestration::generator::{Generator, OrchestrationStepper, Step};
use crate::orchestration::nondeterminism::divergence_message;
use crate::orchestration::trace::{Interaction, Trace};

/// When checks run (`RuntimeOptions.determinism_checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeterminismChecks {
    /// At a generator's 1st, 2nd, 4th, 8th, ... turn from the cache, and before every
    /// terminal step of a generator that served a turn from the cache.
    Sampled,
    EveryTurn,
    Off,
}

impl DeterminismChecks {
    /// True when a generator taken from the cache for its `cached_turns`-th time is checked.
    pub fn due(self, cached_turns: u64) -> bool {
        match self {
            DeterminismChecks::Sampled => cached_turns.is_power_of_two(),
            DeterminismChecks::EveryTurn => true,
            DeterminismChecks::Off => false,
        }
    }

    /// True when a generator that served `cached_turns` turns from the cache is checked
    /// before it ends the execution (a generator never cached was just replayed in full).
    pub fn before_end(self, cached_turns: u64) -> bool {
        self != DeterminismChecks::Off && cached_turns > 0
    }
}

/// How the record being checked ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    /// With the yield the cached generator waits for (or continues as new with).
    Pending,
    /// With the generator returning (`true`) or raising (`false`).
    Finished(bool),
}

/// What the checks did, for `Runtime.driver_stats`.
#[derive(Default)]
pub struct CheckStats {
    pub checks: AtomicU64,
    pub steps: AtomicU64,
    pub divergences: AtomicU64,
}

/// Re-runs the orchestration of `cached` over `record` in a fresh, verify-only
/// generator. `Err` is the failure message for the instance.
pub fn check(
    stepper: &Arc<dyn OrchestrationStepper>,
    cached: &Generator,
    record: &Trace,
    end: RecordEnd,
    stats: &CheckStats,
) -> Result<(), String> {
    stats.checks.fetch_add(1, Ordering::Relaxed);
    let mut verifier =
        Generator::detached(stepper.clone(), cached.info.clone(), cached.input.clone());
    verifier.handle.begin_verify(record.clone());
    let result = run(&mut verifier, cached, end, stats);
    // Code that kept the verifier's context (in a global) gets "not active" from now on.
    verifier.handle.end_verify();
    result
}

/// Steps the verifier through the record.
fn run(
    verifier: &mut Generator,
    cached: &Generator,
    end: RecordEnd,
    stats: &CheckStats,
) -> Result<(), String> {
    let orchestration = format!(
        "{}@{}",
        cached.info.orchestration_name, cached.info.orchestration_version
    );
    let diverged = |step: usize, did: String, at: Option<String>, recorded: Option<String>| {
        stats.divergences.fetch_add(1, Ordering::Relaxed);
        Err(divergence_message(
            &orchestration,
            step,
            &did,
            at.as_deref(),
            recorded.as_deref(),
        ))
    };
    let mut step = verifier.start();
    let mut steps = 0usize;
    loop {
        stats.steps.fetch_add(1, Ordering::Relaxed);
        let parsed = Step::parse(step);
        if let Some(what) = verifier.handle.take_divergence() {
            return diverged(steps + 1, what, None, None);
        }
        match parsed {
            Err(message) => return Err(message),
            Ok(Step::Yield { task, at }) => {
                steps += 1;
                match verifier.handle.verify_yield(&task) {
                    VerifiedYield::Answer(outcome) => {
                        let (kind, payload) = outcome.into_wire();
                        step = verifier.resume(kind, payload);
                    }
                    VerifiedYield::Pending if end == RecordEnd::Pending => return Ok(()),
                    VerifiedYield::Pending => return unreachable_pending(),
                    VerifiedYield::Mismatch(recorded) => {
                        let recorded = describe_in_history(recorded.as_ref(), end);
                        return diverged(
                            steps,
                            format!("yielded {}", task.describe()),
                            at,
                            Some(recorded),
                        );
                    }
                }
            }
            Ok(finished) => {
                verifier.mark_finished();
                let returned = matches!(finished, Step::Return(_));
                let did = if returned { "returned" } else { "raised" };
                let expected = match end {
                    RecordEnd::Finished(ok) if !verifier.handle.catching_up() => {
                        if ok == returned {
                            return Ok(());
                        }
                        if ok { "returned" } else { "raised" }.to_string()
                    }
                    _ => describe_in_history(verifier.handle.next_recorded().as_ref(), end),
                };
                return diverged(steps, did.to_string(), None, Some(expected));
            }
        }
    }
}

/// A finished record has no pending yield: answered outcomes only.
fn unreachable_pending() -> Result<(), String> {
    Err("internal error: a determinism check met a pending step in a finished record".into())
}

fn describe_in_history(item: Option<&Interaction>, end: RecordEnd) -> String {
    match (item, end) {
        (Some(Interaction::Yield { task, .. }), _) => {
            format!("{} (from {})", task.as_history(), task.describe())
        }
        (None, RecordEnd::Finished(true)) => "that the orchestration returned here".into(),
        (None, RecordEnd::Finished(false)) => "that the orchestration failed here".into(),
        (other, _) => describe_recorded(other),
    }
}

#[cfg(test)]
mod tests {
    use super::DeterminismChecks;

    #[test]
    fn sampled_checks_run_at_powers_of_two() {
        let due: Vec<u64> = (1..=20)
            .filter(|&n| DeterminismChecks::Sampled.due(n))
            .collect();
        assert_eq!(due, vec![1, 2, 4, 8, 16]);
        assert!((1..=20).all(|n| DeterminismChecks::EveryTurn.due(n)));
        assert!(!(1..=20).any(|n| DeterminismChecks::Off.due(n)));
    }

    #[test]
    fn the_end_is_checked_only_after_a_cached_turn() {
        assert!(!DeterminismChecks::Sampled.before_end(0));
        assert!(DeterminismChecks::Sampled.before_end(1));
        assert!(!DeterminismChecks::Off.before_end(5));
    }
}
