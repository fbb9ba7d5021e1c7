//! Reading PostgreSQL connection URLs: where they point, how to show them, and whether a
//! connection to them needs TLS.
//!
//! **No TLS to a loopback server unless asked for.** Without `sslmode` (in the URL or
//! `PGSSLMODE`) sqlx, like libpq, uses `prefer`: TLS when the server offers it, no
//! certificate check, and plaintext when it does not. On a loopback address that buys
//! nothing (only root on the same machine can read loopback traffic) and costs a lot with
//! the system's OpenSSL 3: every new connection loads the whole CA bundle (about 65 ms of
//! CPU each, 0.65 s for a pool of 10) and every message is encrypted and decrypted at both
//! ends (docs/performance.md, "Side by side with the original SDK"). So for a loopback
//! host with no `sslmode` we ask for `disable`; a server that refuses plaintext (a
//! `hostssl`-only `pg_hba.conf`) gets the URL as written instead. Any explicit `sslmode`
//! is kept.

/// `host:port` of a TCP PostgreSQL URL; None for socket URLs and when it cannot tell.
pub fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() || hostport.contains(',') {
        return None; // a socket directory or a multi-host URL: let sqlx decide
    }
    if hostport.starts_with('[') {
        return Some(if hostport.contains("]:") {
            hostport.to_string()
        } else {
            format!("{hostport}:5432")
        });
    }
    Some(if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    })
}

/// The URL with its password replaced, for error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// `url` with `sslmode=disable` when it names a loopback host and neither it nor
/// `env_sslmode` (the `PGSSLMODE` variable) chooses a mode; None when it stays as it is.
pub fn plaintext_on_loopback(url: &str, env_sslmode: Option<&str>) -> Option<String> {
    if env_sslmode.is_some_and(|m| !m.is_empty()) {
        return None;
    }
    let query = url.split_once('?').map(|(_, q)| q);
    let chosen = |name: &str| {
        query.is_some_and(|q| {
            q.split('&')
                .any(|pair| pair.split('=').next() == Some(name))
        })
    };
    // `host=` in the query overrides the authority (a socket directory, another host).
    if chosen("sslmode") || chosen("host") || chosen("hostaddr") {
        return None;
    }
    let hostport = host_port(url)?;
    let host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => hostport
            .rsplit_once(':')
            .map_or(hostport.as_str(), |(h, _)| h),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return None;
    }
    let separator = match query {
        None => "?",
        Some("") => "",
        Some(_) => "&",
    };
    Some(format!("{url}{separator}sslmode=disable"))
}

/// True when a connection failed because the server requires TLS from this client
/// (`pg_hba.conf` has only `hostssl` lines for it): the message PostgreSQL sends then.
pub fn refused_plaintext(error: &str) -> bool {
    error.contains("no pg_hba.conf entry") && error.contains("no encryption")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_of_urls() {
        assert_eq!(
            host_port("postgresql://u:p@db.example:6543/x").as_deref(),
            Some("db.example:6543")
        );
        assert_eq!(
            host_port("postgres://u@127.0.0.1/x?sslmode=disable").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            host_port("postgresql://[::1]:5433/x").as_deref(),
            Some("[::1]:5433")
        );
        assert_eq!(host_port("postgresql:///x?host=/run/postgresql"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgresql://u:secret@h:5432/d"),
            "postgresql://u:***@h:5432/d"
        );
    }

    #[test]
    fn loopback_without_a_mode_goes_plaintext() {
        let plain = |url| plaintext_on_loopback(url, None);
        assert_eq!(
            plain("postgresql://u@127.0.0.1:5432/db").as_deref(),
            Some("postgresql://u@127.0.0.1:5432/db?sslmode=disable")
        );
        assert_eq!(
            plain("postgres://u:p@localhost/db?application_name=x").as_deref(),
            Some("postgres://u:p@localhost/db?application_name=x&sslmode=disable")
        );
        assert_eq!(
            plain("postgresql://[::1]:5433/db?").as_deref(),
            Some("postgresql://[::1]:5433/db?sslmode=disable")
        );
        assert!(plain("postgresql://u@127.0.0.2/db").is_some());
    }

    #[test]
    fn any_other_url_is_left_alone() {
        let plain = |url| plaintext_on_loopback(url, None);
        assert_eq!(plain("postgresql://u@db.example:5432/db"), None);
        assert_eq!(plain("postgresql://u@10.0.0.5/db"), None);
        assert_eq!(plain("postgresql://u@127.0.0.1/db?sslmode=require"), None);
        assert_eq!(
            plain("postgresql://u@127.0.0.1/db?a=1&sslmode=prefer"),
            None
        );
        assert_eq!(plain("postgresql://u@localhost/db?host=db.example"), None);
        assert_eq!(plain("postgresql:///db?host=/run/postgresql"), None);
        assert_eq!(plain("postgresql://u@127.0.0.1,10.0.0.5/db"), None);
        assert_eq!(plain("postgresql://u@notlocalhost/db"), None);
        assert_eq!(
            plaintext_on_loopback("postgresql://u@127.0.0.1/db", Some("require")),
            None
        );
    }

    #[test]
    fn recognises_a_server_that_wants_tls() {
        assert!(refused_plaintext(
            "error returned from database: no pg_hba.conf entry for host \"127.0.0.1\", \
             user \"u\", database \"d\", no encryption"
        ));
        assert!(!refused_plaintext(
            "password authentication failed for user \"u\""
        ));
    }
}
