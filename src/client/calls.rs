//! The calls a client makes: each checks its arguments and returns the future that does
//! the work, so the blocking `Client` and the awaitable `AsyncClient` share every line.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::records::OrchestrationState;
use crate::ffi::error::{DuroxideError, Result};
use crate::store::events::StoreEvents;
use crate::store::reachability::{guarded, Guarded};
use crate::store::registered;

/// What a client call needs: the core client and the store's commit notifications.
/// Each method checks its arguments and returns the call's future (`Call`), which the
/// blocking `Client` runs to completion and the `AsyncClient` awaits.
pub(crate) struct Calls {
    core: duroxide::Client,
    pub(super) events: Arc<StoreEvents>,
    closed: AtomicBool,
}

/// The future of one client call: owns everything it uses, so it can run on the shared
/// runtime while the caller blocks or awaits.
pub(crate) type Call<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

impl Calls {
    pub fn new(core: duroxide::Client, events: Arc<StoreEvents>) -> Self {
        Self {
            core,
            events,
            closed: AtomicBool::new(false),
        }
    }

    /// The core client, or `Closed` once `close()` was called.
    pub(crate) fn core(&self) -> Result<duroxide::Client> {
        if self.closed.load(Ordering::Acquire) {
            return Err(DuroxideError::closed(
                "this client was closed; create a new client on the provider",
            ));
        }
        Ok(self.core.clone())
    }

    pub fn start_orchestration(
        &self,
        instance_id: String,
        name: String,
        input: String,
        version: Option<String>,
    ) -> Result<Call<()>> {
        let core = self.core()?;
        validate_instance_id(&instance_id)?;
        if name.is_empty() {
            return Err(DuroxideError::invalid("orchestration name is empty"));
        }
        if let Err(known) =
            registered::check_orchestration(self.events.id(), &name, version.as_deref())
        {
            let what = match &version {
                Some(v) => format!("{name}@{v}"),
                None => name.clone(),
            };
            return Err(DuroxideError::NotRegistered {
                reason: format!(
                    "orchestration '{what}' is not registered with the runtime running on this provider (registered: {known}); register it before starting instances of it"
                ),
            });
        }
        within(&self.events, "starting the instance", async move {
            match version {
                Some(v) => {
                    core.start_orchestration_versioned(instance_id, name, v, input)
                        .await
                }
                None => core.start_orchestration(instance_id, name, input).await,
            }
        })
    }

    pub fn get_status(&self, instance_id: String) -> Result<Call<OrchestrationState>> {
        let core = self.core()?;
        within(&self.events, "reading the instance's state", async move {
            core.get_orchestration_status(&instance_id)
                .await
                .map(Into::into)
        })
    }

    pub fn wait_for_orchestration(
        &self,
        instance_id: String,
        timeout_ms: u64,
    ) -> Result<Call<OrchestrationState>> {
        let core = self.core()?;
        let events = self.events.clone();
        Ok(Box::pin(async move {
            let found = wait_until(
                &core,
                &events,
                (&instance_id, WakeOn::End),
                timeout_ms,
                (POLL_FLOOR, POLL_CEILING),
                |s| s.is_terminal().then(|| s.clone()),
            )
            .await?;
            found.ok_or_else(|| {
                DuroxideError::timeout(format!(
                    "instance '{instance_id}' did not finish within {timeout_ms} ms"
                ))
            })
        }))
    }

    pub fn wait_for_status_change(
        &self,
        instance_id: String,
        last_seen_version: u64,
        poll_interval_ms: u64,
        timeout_ms: u64,
    ) -> Result<Call<Option<OrchestrationState>>> {
        let core = self.core()?;
        let events = self.events.clone();
        let poll = Duration::from_millis(poll_interval_ms.max(1));
        Ok(Box::pin(async move {
            let found = wait_until(
                &core,
                &events,
                (&instance_id, WakeOn::AnyTurn),
                timeout_ms,
                (poll, poll),
                |s| {
                    if s.custom_status_version > last_seen_version {
                        Some(Some(s.clone()))
                    } else if s.is_terminal() {
                        Some(None) // over, and nothing newer will come
                    } else {
                        None
                    }
                },
            )
            .await?;
            Ok(found.flatten())
        }))
    }

    pub fn raise_event(
        &self,
        instance_id: String,
        event_name: String,
        data: String,
    ) -> Result<Call<()>> {
        let core = self.core()?;
        within(&self.events, "raising the event", async move {
            core.raise_event(instance_id, event_name, data).await
        })
    }

    pub fn enqueue_event(
        &self,
        instance_id: String,
        queue: String,
        data: String,
    ) -> Result<Call<()>> {
        let core = self.core()?;
        within(&self.events, "enqueueing the message", async move {
            core.enqueue_event(instance_id, queue, data).await
        })
    }

    pub fn cancel_instance(&self, instance_id: String, reason: String) -> Result<Call<()>> {
        let core = self.core()?;
        within(&self.events, "cancelling the instance", async move {
            core.cancel_instance(instance_id, reason).await
        })
    }

    pub fn get_kv_value(&self, instance_id: String, key: String) -> Result<Call<Option<String>>> {
        let core = self.core()?;
        within(&self.events, "reading the KV value", async move {
            core.get_kv_value(&instance_id, &key).await
        })
    }

    pub fn get_kv_all_values(&self, instance_id: String) -> Result<Call<HashMap<String, String>>> {
        let core = self.core()?;
        within(&self.events, "reading the KV values", async move {
            core.get_kv_all_values(&instance_id).await
        })
    }

    /// Waits until the instance has set `key`. Gives up at once when the instance ended
    /// without it (nothing can set it any more).
    pub fn wait_for_kv_value(
        &self,
        instance_id: String,
        key: String,
        timeout_ms: u64,
    ) -> Result<Call<String>> {
        let core = self.core()?;
        let events = self.events.clone();
        Ok(Box::pin(async move {
            let deadline = Instant::now() + Duration::from_millis(timeout_ms);
            let watch = events.watch(&instance_id);
            let mut poll = POLL_FLOOR;
            let waiting = Waiting::begin();
            loop {
                let notified = watch.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let late = || {
                    DuroxideError::timeout(format!(
                        "instance '{instance_id}' did not set KV key '{key}' within {timeout_ms} ms"
                    ))
                };
                let read = || async {
                    read_before(
                        &events,
                        deadline,
                        "reading the KV value",
                        core.get_kv_value(&instance_id, &key),
                    )
                    .await?
                    .ok_or_else(late)?
                    .map_err(DuroxideError::from)
                };
                if let Some(value) = read().await? {
                    return Ok(value);
                }
                let status = core.get_orchestration_status(&instance_id);
                let state: OrchestrationState =
                    read_before(&events, deadline, "reading the instance's state", status)
                        .await?
                        .ok_or_else(late)??
                        .into();
                if state.is_terminal() {
                    // The last turn may have set it just before ending.
                    if let Some(value) = read().await? {
                        return Ok(value);
                    }
                    return Err(DuroxideError::NotFound {
                        reason: format!(
                            "instance '{instance_id}' ended ({}) without setting KV key '{key}'",
                            state.status
                        ),
                    });
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(late());
                }
                if tokio::time::timeout(poll.min(deadline - now), notified)
                    .await
                    .is_err()
                {
                    poll = (poll * 2).min(waiting.ceiling(POLL_CEILING));
                }
            }
        }))
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// First poll interval of a wait; it doubles up to `POLL_CEILING`. Within one process
/// the wait is woken as soon as a turn of the instance is committed, so polling only
/// matters when the instance runs in another process.
const POLL_FLOOR: Duration = Duration::from_millis(5);
const POLL_CEILING: Duration = Duration::from_millis(100);

/// Waits in progress in this process. Each polls the store, so many at once (an asyncio
/// service awaiting 1,000 instances) would flood it with reads and starve the runtime:
/// past `WAITERS_PER_CEILING` waits the ceiling grows with their number, which keeps the
/// process's poll rate bounded. In-process commits still wake a wait at once.
static WAITERS: AtomicUsize = AtomicUsize::new(0);
const WAITERS_PER_CEILING: usize = 32;

struct Waiting;

impl Waiting {
    fn begin() -> Self {
        WAITERS.fetch_add(1, Ordering::Relaxed);
        Waiting
    }

    /// The longest pause between two reads of this wait.
    fn ceiling(&self, base: Duration) -> Duration {
        let scale = (WAITERS.load(Ordering::Relaxed) / WAITERS_PER_CEILING).max(1);
        base * u32::try_from(scale).unwrap_or(u32::MAX)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Which in-process commits wake a wait early (it also reads at every poll).
#[derive(Clone, Copy)]
enum WakeOn {
    /// Every committed turn of the instance.
    AnyTurn,
    /// Only a turn that ended an execution: a wait for the end needs no read before it.
    End,
}

/// Reads the instance's state until `done` returns `Some`, or `timeout_ms` passes (`None`).
async fn wait_until<T>(
    core: &duroxide::Client,
    events: &Arc<StoreEvents>,
    (instance_id, wake_on): (&str, WakeOn),
    timeout_ms: u64,
    (first_poll, max_poll): (Duration, Duration),
    mut done: impl FnMut(&OrchestrationState) -> Option<T>,
) -> Result<Option<T>> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let watch = events.watch(instance_id);
    let mut poll = first_poll;
    let waiting = Waiting::begin();
    loop {
        // Armed before the read, so a commit between the read and the wait still wakes us.
        let notified = match wake_on {
            WakeOn::AnyTurn => watch.notified(),
            WakeOn::End => watch.ended(),
        };
        tokio::pin!(notified);
        notified.as_mut().enable();
        let status = core.get_orchestration_status(instance_id);
        let Some(status) =
            read_before(events, deadline, "reading the instance's state", status).await?
        else {
            return Ok(None);
        };
        let state: OrchestrationState = status?.into();
        if let Some(found) = done(&state) {
            return Ok(Some(found));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        if tokio::time::timeout(poll.min(deadline - now), notified)
            .await
            .is_err()
        {
            poll = (poll * 2).min(waiting.ceiling(max_poll));
        }
    }
}

/// Longest a client call waits for the store (a database outage, a stalled network)
/// before it raises instead of hanging.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Least time a read inside a wait gets, even past the wait's deadline: one read of a
/// healthy store is always made (a `timeout_ms=0` wait checks once), and a wait ends at
/// most this long after its deadline however the store behaves.
const READ_GRACE: Duration = Duration::from_millis(150);

/// A read inside a wait: until the wait's deadline (at least `READ_GRACE`, at most
/// `CALL_TIMEOUT`).
fn read_limit(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(READ_GRACE)
        .min(CALL_TIMEOUT)
}

fn no_answer(what: &str) -> DuroxideError {
    DuroxideError::provider(format!(
        "the store did not answer ({what}) within {} s; check that the database is reachable",
        CALL_TIMEOUT.as_secs()
    ))
}

/// A read inside a wait with this `deadline`: its answer, None when the deadline passed
/// first, an error when the store did not answer long before it or refused connections.
async fn read_before<T>(
    events: &StoreEvents,
    deadline: Instant,
    what: &'static str,
    read: impl Future<Output = T>,
) -> Result<Option<T>> {
    match guarded(events.address(), read_limit(deadline), read).await {
        Guarded::Answered(answer) => Ok(Some(answer)),
        Guarded::TimedOut if Instant::now() >= deadline => Ok(None),
        Guarded::TimedOut => Err(no_answer(what)),
        Guarded::Refused(error) => Err(error),
    }
}

/// One store call of a client, given up after `CALL_TIMEOUT`, or at once when the
/// store's server refuses connections (see `reachability`).
pub(crate) fn within<T, Fut>(events: &StoreEvents, what: &'static str, call: Fut) -> Result<Call<T>>
where
    Fut: Future<Output = std::result::Result<T, duroxide::ClientError>> + Send + 'static,
    T: Send + 'static,
{
    let address = events.address().map(str::to_owned);
    Ok(Box::pin(async move {
        match guarded(address.as_deref(), CALL_TIMEOUT, call).await {
            Guarded::Answered(result) => result.map_err(Into::into),
            Guarded::TimedOut => Err(no_answer(what)),
            Guarded::Refused(error) => Err(error),
        }
    }))
}

fn validate_instance_id(instance_id: &str) -> Result<()> {
    if instance_id.is_empty() {
        return Err(DuroxideError::invalid("instance id is empty"));
    }
    Ok(())
}
