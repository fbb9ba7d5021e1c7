//! Telling "the database is down" from "the database is slow".
//!
//! sqlx keeps retrying a refused connection until its pool timeout, so a client call made
//! while PostgreSQL is stopped would wait out `CALL_TIMEOUT` before saying anything. A call
//! that has not answered within `PROBE_AFTER` therefore also tries a plain TCP connection
//! to the server: a refusal ends the call at once with a clear error, while a server that
//! accepts connections (merely slow, or a partition that swallows packets) leaves the
//! call to its own limit.

use std::future::Future;
use std::time::Duration;

use crate::ffi::error::DuroxideError;

/// How long a call runs before the server is probed.
const PROBE_AFTER: Duration = Duration::from_millis(200);
/// How long one probe may take, and the pause between probes.
const PROBE_LIMIT: Duration = Duration::from_millis(500);

/// How a guarded call ended.
pub enum Guarded<T> {
    Answered(T),
    /// Its limit passed without an answer.
    TimedOut,
    /// The server refused connections while it waited.
    Refused(DuroxideError),
}

/// `call`, given up after `limit`, or as soon as the server at `address` (host:port of
/// a PostgreSQL store; None for SQLite) refuses connections.
pub async fn guarded<T>(
    address: Option<&str>,
    limit: Duration,
    call: impl Future<Output = T>,
) -> Guarded<T> {
    let refusal = async {
        let Some(address) = address else {
            return std::future::pending().await;
        };
        tokio::time::sleep(PROBE_AFTER).await;
        loop {
            if let Some(error) = refused(address).await {
                return error;
            }
            tokio::time::sleep(PROBE_LIMIT).await;
        }
    };
    tokio::select! {
        answer = call => Guarded::Answered(answer),
        _ = tokio::time::sleep(limit) => Guarded::TimedOut,
        error = refusal => Guarded::Refused(error),
    }
}

/// The error for a server that refuses connections now, or None when it accepts them
/// (or the probe could not tell within `PROBE_LIMIT`).
async fn refused(address: &str) -> Option<DuroxideError> {
    match tokio::time::timeout(PROBE_LIMIT, tokio::net::TcpStream::connect(address)).await {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Some(DuroxideError::provider(format!(
                "the database at {address} refused the connection; is PostgreSQL running? \
                 (runtimes keep retrying and resume by themselves when it is back)"
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusing_server_ends_a_call_that_would_hang() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener); // nothing listens there now: connections are refused
        let started = std::time::Instant::now();
        let outcome = guarded(
            Some(&address),
            Duration::from_secs(30),
            std::future::pending::<()>(),
        )
        .await;
        assert!(matches!(outcome, Guarded::Refused(_)));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_listening_server_leaves_the_call_to_its_limit() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let outcome = guarded(
            Some(&address),
            Duration::from_millis(900),
            std::future::pending::<()>(),
        )
        .await;
        assert!(matches!(outcome, Guarded::TimedOut));
        let answered = guarded(None, Duration::from_secs(1), async { 7 }).await;
        assert!(matches!(answered, Guarded::Answered(7)));
    }
}
