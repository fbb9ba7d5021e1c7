//! Activities: the handler the core calls, and the context object the foreign function gets.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use duroxide::providers::Provider as CoreProvider;
use duroxide::runtime::registry::ActivityRegistry;
use duroxide::ActivityContext as CoreActivityCtx;

use crate::client::Client;
use crate::ffi::error::DuroxideError;
use crate::ffi::interpreter;
use crate::store::events::StoreEvents;

/// Runs activity functions; the foreign side implements it. See `ActivityInvoker` in
/// `udl/duroxide.udl`.
pub trait ActivityInvoker: Send + Sync {
    fn invoke(
        &self,
        ctx: Arc<ActivityContext>,
        info: ActivityInfo,
        input: String,
        completion: Arc<ActivityCompletion>,
    ) -> Result<(), DuroxideError>;
}

#[derive(Debug, Clone)]
pub struct ActivityInfo {
    pub instance_id: String,
    pub execution_id: u64,
    pub orchestration_name: String,
    pub orchestration_version: String,
    pub activity_name: String,
    pub worker_id: String,
    pub session_id: Option<String>,
    pub tag: Option<String>,
}

impl ActivityInfo {
    fn of(ctx: &CoreActivityCtx) -> Self {
        Self {
            instance_id: ctx.instance_id().to_string(),
            execution_id: ctx.execution_id(),
            orchestration_name: ctx.orchestration_name().to_string(),
            orchestration_version: ctx.orchestration_version().to_string(),
            activity_name: ctx.activity_name().to_string(),
            worker_id: ctx.worker_id().to_string(),
            session_id: ctx.session_id().map(str::to_string),
            tag: ctx.tag().map(str::to_string),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ActivityOutcome {
    pub ok: bool,
    pub payload: String,
}

/// Told when an activity is cancelled; the foreign side implements it.
pub trait CancelListener: Send + Sync {
    fn cancelled(&self);
}

/// Where the cancellation of one activity call stands.
enum Cancellation {
    Watching(Option<Box<dyn CancelListener>>),
    /// Cancelled (the listener, if any, was told) or finished: listeners are told at once
    /// or never.
    Over {
        cancelled: bool,
    },
}

pub struct ActivityContext {
    ctx: CoreActivityCtx,
    events: Arc<StoreEvents>,
    /// The store itself: the core's context holds the runtime's view of it (see
    /// `store::runtime_view`), whose reads are not for user code.
    store: Arc<dyn CoreProvider>,
    cancellation: Mutex<Cancellation>,
}

impl ActivityContext {
    pub fn trace(&self, level: String, message: String) {
        match level.to_ascii_lowercase().as_str() {
            "warn" | "warning" => self.ctx.trace_warn(message),
            "error" => self.ctx.trace_error(message),
            "debug" => self.ctx.trace_debug(message),
            _ => self.ctx.trace_info(message),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    pub fn on_cancelled(&self, listener: Box<dyn CancelListener>) {
        let mut state = self.cancellation.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            Cancellation::Watching(slot) => *slot = Some(listener),
            Cancellation::Over { cancelled } => {
                let cancelled = *cancelled;
                drop(state);
                if cancelled {
                    listener.cancelled();
                }
            }
        }
    }

    /// The activity was cancelled (`cancelled`) or has ended: tell the listener, once.
    fn settle(&self, cancelled: bool) {
        let mut state = self.cancellation.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*state, Cancellation::Over { .. }) {
            return;
        }
        let previous = std::mem::replace(&mut *state, Cancellation::Over { cancelled });
        drop(state);
        if let (true, Cancellation::Watching(Some(listener))) = (cancelled, previous) {
            listener.cancelled();
        }
    }

    pub fn get_client(&self) -> Arc<Client> {
        Arc::new(Client::from_core(
            duroxide::Client::new(self.store.clone()),
            self.events.clone(),
        ))
    }
}

/// Where the foreign side reports an activity's outcome.
pub struct ActivityCompletion {
    sender: Mutex<Option<tokio::sync::oneshot::Sender<ActivityOutcome>>>,
}

impl ActivityCompletion {
    pub fn complete(&self, outcome: ActivityOutcome) {
        if let Some(sender) = self.sender.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // The receiver is gone when the runtime stopped meanwhile: nothing to do.
            let _ = sender.send(outcome);
        }
    }
}

/// Registers every activity name with one handler that hands the call to the foreign
/// invoker and awaits its completion (the foreign code runs on a thread it owns).
pub fn registry(
    names: &HashSet<String>,
    invoker: Arc<dyn ActivityInvoker>,
    events: Arc<StoreEvents>,
    store: Arc<dyn CoreProvider>,
) -> Result<ActivityRegistry, String> {
    let mut builder = ActivityRegistry::builder();
    for name in names {
        let shared = (invoker.clone(), events.clone(), store.clone());
        builder = builder.register(name.clone(), move |ctx: CoreActivityCtx, input: String| {
            let (invoker, events, store) = shared.clone();
            async move { invoke(invoker, ctx, input, (events, store)).await }
        });
    }
    builder.build_result()
}

async fn invoke(
    invoker: Arc<dyn ActivityInvoker>,
    ctx: CoreActivityCtx,
    input: String,
    (events, store): (Arc<StoreEvents>, Arc<dyn CoreProvider>),
) -> Result<String, String> {
    if !interpreter::alive() {
        return Err("the process is exiting; the activity did not run".into());
    }
    let info = ActivityInfo::of(&ctx);
    let handle = Arc::new(ActivityContext {
        ctx,
        events,
        store,
        cancellation: Mutex::new(Cancellation::Watching(None)),
    });
    let name = info.activity_name.clone();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let completion = Arc::new(ActivityCompletion {
        sender: Mutex::new(Some(sender)),
    });
    if let Err(e) = invoker.invoke(handle.clone(), info, input, completion) {
        return Err(format!(
            "activity '{name}': the SDK failed to start it: {e}"
        ));
    }
    // The core keeps this future running through its cancellation grace period, so a
    // listener learns of the cancellation while the activity can still stop early.
    tokio::pin!(receiver);
    let outcome = tokio::select! {
        outcome = &mut receiver => outcome,
        () = handle.ctx.cancelled() => {
            handle.settle(true);
            receiver.await
        }
    };
    handle.settle(false);
    match outcome {
        Ok(ActivityOutcome { ok: true, payload }) => Ok(payload),
        Ok(ActivityOutcome { ok: false, payload }) => Err(payload),
        Err(_) => Err(format!(
            "activity '{name}' was abandoned before it reported a result"
        )),
    }
}
