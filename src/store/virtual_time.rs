//! A virtual clock for tests (`duroxide.testing`): durable timers fire when the test
//! moves the clock or, while skipping is on, as soon as nothing else is going on — so a
//! 30-day timer completes at once — and `ctx.utc_now()` reads the virtual time.
//!
//! It works on the store layer alone, the one place that sees every timer and every
//! unit of work: a turn's acknowledgement schedules a timer as a `TimerFired` message
//! visible at its fire time; with the clock on, the store holds that message back and
//! enqueues it (visible at once) when the clock reaches it. The clock is the real time
//! plus an offset that only grows; `utc_now` is the core's system activity, whose result
//! the store shifts by that offset when it is acknowledged, so history records the
//! virtual time and replays it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use duroxide::providers::{Provider, WorkItem};

use super::Store;
use crate::ffi::executor;

/// The core's system activity behind `ctx.utc_now()`.
const UTC_NOW_ACTIVITY: &str = "__duroxide_syscall:utc_now_ms";
/// How often the clock looks for timers to fire.
const TICK: Duration = Duration::from_millis(2);

#[derive(Default)]
struct State {
    /// Virtual time minus real time, in ms.
    offset_ms: u64,
    /// Timers held back: (virtual fire time, order of arrival, the message).
    held: Vec<(u64, u64, WorkItem)>,
    arrivals: u64,
    /// Fetched work not yet acknowledged or abandoned (lock tokens).
    busy: HashSet<String>,
    /// Lock tokens of `utc_now` activities being run.
    clock_reads: HashSet<String>,
    /// When the store last saw work move.
    last_activity: Option<Instant>,
    /// Skipping requests in force (several waits may skip at once).
    skipping: u32,
}

pub struct VirtualTime {
    state: Mutex<State>,
    /// How long the store must have been quiet before the clock jumps.
    quiet: Duration,
}

fn real_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl VirtualTime {
    pub fn new(quiet: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            quiet,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now_ms(&self) -> u64 {
        real_now_ms() + self.lock().offset_ms
    }

    pub fn held_timers(&self) -> usize {
        self.lock().held.len()
    }

    /// Moves the clock forward by `ms` (timers due by then fire on the next tick).
    pub fn advance(&self, ms: u64) {
        self.lock().offset_ms += ms;
    }

    /// While at least one request is in force, the clock jumps to the next timer whenever
    /// the store is idle.
    pub fn skip(&self, on: bool) {
        let mut state = self.lock();
        state.skipping = if on {
            state.skipping + 1
        } else {
            state.skipping.saturating_sub(1)
        };
    }

    // -- what the store reports -----------------------------------------------------------

    fn touch(state: &mut State) {
        state.last_activity = Some(Instant::now());
    }

    pub fn fetched(&self, token: &str, item: Option<&WorkItem>) {
        let mut state = self.lock();
        state.busy.insert(token.to_string());
        if let Some(WorkItem::ActivityExecute { name, .. }) = item {
            if name == UTC_NOW_ACTIVITY {
                state.clock_reads.insert(token.to_string());
            }
        }
        Self::touch(&mut state);
    }

    pub fn settled(&self, token: &str) {
        let mut state = self.lock();
        state.busy.remove(token);
        state.clock_reads.remove(token);
        Self::touch(&mut state);
    }

    pub fn moved(&self) {
        Self::touch(&mut self.lock());
    }

    /// A `utc_now` completion shifted to the virtual time.
    pub fn shift_completion(&self, token: &str, completion: Option<WorkItem>) -> Option<WorkItem> {
        let state = self.lock();
        if !state.clock_reads.contains(token) {
            return completion;
        }
        match completion {
            Some(WorkItem::ActivityCompleted {
                instance,
                execution_id,
                id,
                result,
            }) => {
                let shifted = result
                    .parse::<u64>()
                    .map(|ms| (ms + state.offset_ms).to_string())
                    .unwrap_or(result);
                Some(WorkItem::ActivityCompleted {
                    instance,
                    execution_id,
                    id,
                    result: shifted,
                })
            }
            other => other,
        }
    }

    /// Takes the timers out of a turn's messages, to hold them until the clock reaches them.
    pub fn take_timers(items: &mut Vec<WorkItem>) -> Vec<WorkItem> {
        let (timers, rest): (Vec<_>, Vec<_>) = std::mem::take(items)
            .into_iter()
            .partition(|i| matches!(i, WorkItem::TimerFired { .. }));
        *items = rest;
        timers
    }

    /// Holds the timers of a committed turn; `ended` names an instance whose execution
    /// ended in that turn (its timers can never matter again).
    pub fn hold(&self, timers: Vec<WorkItem>, ended: Option<&str>) {
        let mut state = self.lock();
        let offset = state.offset_ms;
        for timer in timers {
            if let WorkItem::TimerFired { fire_at_ms, .. } = &timer {
                state.arrivals += 1;
                let order = state.arrivals;
                state.held.push((fire_at_ms + offset, order, timer));
            }
        }
        if let Some(ended) = ended {
            state
                .held
                .retain(|(_, _, t)| !matches!(t, WorkItem::TimerFired { instance, .. } if instance == ended));
        }
        Self::touch(&mut state);
    }

    /// The timers to fire now: every one the virtual clock has reached, or, when skipping
    /// and the store has been quiet, the next one (the clock jumps to it).
    fn due(&self) -> Vec<WorkItem> {
        let mut state = self.lock();
        if state.held.is_empty() {
            return Vec::new();
        }
        let now = real_now_ms() + state.offset_ms;
        let idle = state.busy.is_empty()
            && state
                .last_activity
                .is_none_or(|t| t.elapsed() >= self.quiet);
        if state.skipping > 0 && idle && !state.held.iter().any(|(at, _, _)| *at <= now) {
            let next = state.held.iter().map(|(at, _, _)| *at).min().unwrap_or(now);
            state.offset_ms += next.saturating_sub(now);
        }
        let now = real_now_ms() + state.offset_ms;
        state.held.sort_by_key(|(at, order, _)| (*at, *order));
        let split = state.held.partition_point(|(at, _, _)| *at <= now);
        let fired: Vec<WorkItem> = state.held.drain(..split).map(|(_, _, t)| t).collect();
        if !fired.is_empty() {
            Self::touch(&mut state);
        }
        fired
            .into_iter()
            .map(|t| match t {
                WorkItem::TimerFired {
                    instance,
                    execution_id,
                    id,
                    ..
                } => WorkItem::TimerFired {
                    instance,
                    execution_id,
                    id,
                    fire_at_ms: real_now_ms(), // visible at once
                },
                other => other,
            })
            .collect()
    }

    /// Fires due timers until the store goes away.
    pub fn run(self: &Arc<Self>, store: Weak<Store>) {
        let clock = Arc::downgrade(self);
        executor::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                let (Some(clock), Some(store)) = (clock.upgrade(), store.upgrade()) else {
                    return;
                };
                for timer in clock.due() {
                    if let Err(e) = store.enqueue_for_orchestrator(timer, None).await {
                        tracing::warn!(target: "duroxide::python", "virtual clock: could not fire a timer: {e}");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(instance: &str, fire_at_ms: u64) -> WorkItem {
        WorkItem::TimerFired {
            instance: instance.into(),
            execution_id: 1,
            id: 1,
            fire_at_ms,
        }
    }

    #[test]
    fn a_skipping_clock_jumps_to_the_earliest_timer_only_when_idle() {
        let clock = VirtualTime::new(Duration::ZERO);
        let now = real_now_ms();
        clock.hold(
            vec![
                timer("late", now + 2 * 86_400_000),
                timer("soon", now + 3_600_000),
            ],
            None,
        );
        assert!(clock.due().is_empty(), "no timer is due and nothing skips");
        clock.fetched("token", None);
        clock.skip(true);
        assert!(clock.due().is_empty(), "work in flight: the clock waits");
        clock.settled("token");
        let fired = clock.due();
        assert!(
            matches!(&fired[..], [WorkItem::TimerFired { instance, .. }] if instance == "soon")
        );
        assert!(clock.now_ms() >= now + 3_600_000);
        assert_eq!(clock.held_timers(), 1);
    }

    #[test]
    fn advancing_fires_what_is_due_and_ended_instances_drop_their_timers() {
        let clock = VirtualTime::new(Duration::ZERO);
        let now = real_now_ms();
        clock.hold(vec![timer("a", now + 1_000), timer("b", now + 5_000)], None);
        clock.hold(Vec::new(), Some("b"));
        clock.advance(2_000);
        assert_eq!(clock.due().len(), 1);
        assert_eq!(clock.held_timers(), 0);
    }

    #[test]
    fn utc_now_results_are_shifted_by_the_offset() {
        let clock = VirtualTime::new(Duration::ZERO);
        clock.advance(1_000);
        let item = Some(WorkItem::ActivityExecute {
            instance: "i".into(),
            execution_id: 1,
            id: 7,
            name: UTC_NOW_ACTIVITY.into(),
            input: String::new(),
            session_id: None,
            tag: None,
        });
        clock.fetched("t", item.as_ref());
        let done = Some(WorkItem::ActivityCompleted {
            instance: "i".into(),
            execution_id: 1,
            id: 7,
            result: "5000".into(),
        });
        match clock.shift_completion("t", done) {
            Some(WorkItem::ActivityCompleted { result, .. }) => assert_eq!(result, "6000"),
            other => panic!("{other:?}"),
        }
    }
}
