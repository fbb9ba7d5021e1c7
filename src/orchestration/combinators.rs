//! `all` and `race` over task futures.
//!
//! The engine polls with a no-op waker, after every history event that delivers a result,
//! so a combinator cannot wait for a wake-up: it polls its children itself. A race polls
//! every child and drops its losers as soon as it has a winner: dropping an unfinished
//! `DurableFuture` is how the core records a cancellation, in the same poll on every replay.
//!
//! An `all` needs every result, so it polls *lazy* children (those whose result the engine
//! settles whether or not they are polled: activities, timers, ...) only up to the first
//! one still pending; the others wait their turn. Polling every pending child on every poll
//! (what the core's `join` does) costs O(n) polls per delivered result, O(n²) per turn: a
//! 2,000-activity fan-out spent most of its time there.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::orchestration::outcome::Outcome;

pub type TaskFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Waits for every child; `(future, lazy)` pairs, see the module comment.
pub fn all(children: Vec<(TaskFuture, bool)>) -> TaskFuture {
    let lazy: Vec<bool> = children.iter().map(|(_, lazy)| *lazy).collect();
    let mut pending: Vec<Option<TaskFuture>> =
        children.into_iter().map(|(fut, _)| Some(fut)).collect();
    let mut done: Vec<Option<Outcome>> = pending.iter().map(|_| None).collect();
    Box::pin(std::future::poll_fn(move |cx: &mut Context<'_>| {
        let mut waiting = false;
        let mut lazy_blocked = false;
        for (index, (slot, result)) in pending.iter_mut().zip(done.iter_mut()).enumerate() {
            let Some(fut) = slot else { continue };
            if lazy[index] && lazy_blocked {
                waiting = true;
                continue;
            }
            match fut.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    *result = Some(outcome);
                    *slot = None;
                }
                Poll::Pending => {
                    waiting = true;
                    lazy_blocked |= lazy[index];
                }
            }
        }
        if waiting {
            return Poll::Pending;
        }
        Poll::Ready(Outcome::All(
            done.iter_mut()
                .map(|o| o.take().expect("finished"))
                .collect(),
        ))
    }))
}

pub fn race(children: Vec<TaskFuture>) -> TaskFuture {
    let mut children = Some(children);
    Box::pin(std::future::poll_fn(move |cx: &mut Context<'_>| {
        let Some(list) = children.as_mut() else {
            return Poll::Pending;
        };
        for (index, fut) in list.iter_mut().enumerate() {
            if let Poll::Ready(outcome) = fut.as_mut().poll(cx) {
                children = None; // drops the losers now: they are cancelled
                return Poll::Ready(Outcome::Race(index, Box::new(outcome)));
            }
        }
        Poll::Pending
    }))
}
