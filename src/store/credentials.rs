//! Refreshable PostgreSQL credentials: a foreign source of the current password (or
//! token), asked once to connect and then on a schedule; each answer becomes the
//! password of the pool's future connections (`Pool::set_connect_options`), so a rotated
//! password or a short-lived token never needs a restart. Connections already open keep
//! working until the pool replaces them.

use std::sync::{Arc, Weak};
use std::time::Duration;

use duroxide_pg_opt::PostgresProvider;

use crate::ffi::error::{DuroxideError, Result};
use crate::ffi::{executor, interpreter};

/// Implemented by the foreign side: the password (or token) to connect with now.
pub trait CredentialSource: Send + Sync {
    fn password(&self) -> Result<String>;
}

/// `url` with its password set to `password` (percent-encoded), replacing any.
pub fn with_password(url: &str, password: &str) -> Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| DuroxideError::invalid("not a PostgreSQL URL"))?;
    let (userinfo, host) = rest.split_once('@').ok_or_else(|| {
        DuroxideError::invalid(
            "a URL used with a password source must name its user: postgresql://USER@host/db",
        )
    })?;
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    if user.is_empty() {
        return Err(DuroxideError::invalid(
            "a URL used with a password source must name its user: postgresql://USER@host/db",
        ));
    }
    Ok(format!(
        "{scheme}://{user}:{}@{host}",
        percent_encode(password)
    ))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Asks `source` every `every` and hands the answer to the pool, for as long as the
/// provider lives. A failed or empty answer keeps the last password (and is logged).
pub fn keep_fresh(
    provider: &Arc<PostgresProvider>,
    source: Arc<dyn CredentialSource>,
    every: Duration,
) {
    let provider: Weak<PostgresProvider> = Arc::downgrade(provider);
    executor::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if !interpreter::alive() {
                return;
            }
            let ask = source.clone();
            let answer = tokio::task::spawn_blocking(move || ask.password()).await;
            let Some(provider) = provider.upgrade() else {
                return; // the provider is gone: stop asking
            };
            match answer {
                Ok(Ok(password)) if !password.is_empty() => {
                    let pool = provider.pool();
                    let options = pool.connect_options().as_ref().clone().password(&password);
                    pool.set_connect_options(options);
                    tracing::debug!(target: "duroxide::providers::postgres", "credentials refreshed");
                }
                Ok(Ok(_)) => tracing::warn!(
                    target: "duroxide::providers::postgres",
                    "the password source returned an empty password; keeping the previous one"
                ),
                Ok(Err(e)) => tracing::warn!(
                    target: "duroxide::providers::postgres",
                    "the password source failed ({e}); keeping the previous password"
                ),
                Err(e) => tracing::warn!(
                    target: "duroxide::providers::postgres",
                    "the password source did not answer ({e}); keeping the previous password"
                ),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_replaces_any_in_the_url_percent_encoded() {
        assert_eq!(
            with_password("postgresql://app@h:5432/d?sslmode=require", "p@ss:/w").unwrap(),
            "postgresql://app:p%40ss%3A%2Fw@h:5432/d?sslmode=require"
        );
        assert_eq!(
            with_password("postgres://app:old@h/d", "new").unwrap(),
            "postgres://app:new@h/d"
        );
        assert!(with_password("postgresql://h/d", "x").is_err());
    }
}
