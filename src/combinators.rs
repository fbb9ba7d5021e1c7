//! `all` and `race` over task futures.
//!
//! The engine polls with a no-op waker, so these poll every unfinished child on every
//! poll. A race drops its losers as soon as it has a winner: dropping an unfinished
//! `DurableFuture` is how the core records a cancellation, in the same poll on every replay.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::outcome::Outcome;

pub type TaskFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pub fn all(children: Vec<TaskFuture>) -> TaskFuture {
    let mut pending: Vec<Option<TaskFuture>> = children.into_iter().map(Some).collect();
    let mut done: Vec<Option<Outcome>> = pending.iter().map(|_| None).collect();
    Box::pin(std::future::poll_fn(move |cx: &mut Context<'_>| {
        let mut waiting = false;
        for (slot, result) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(outcome) => {
                        *result = Some(outcome);
                        *slot = None;
                    }
                    Poll::Pending => waiting = true,
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
