//! The scenarios of `benchmarks/bench.py`, driven from Rust directly on the duroxide
//! crate with the same options: the floor the Python SDK is measured against.
//!
//! `cargo run --release -p duroxide-native-bench -- [--provider sqlite|postgres|both] [--json FILE] [--quick] [--only a,b]
//! [--orchestration-concurrency N] [--worker-concurrency N]`
//!
//! Output lines and JSON match bench.py's, so `benchmarks/compare.py` can pair them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duroxide::providers::sqlite::SqliteProvider;
use duroxide::providers::Provider;
use duroxide::runtime::registry::ActivityRegistry;
use duroxide::runtime::{OrchestrationRegistry, Runtime, RuntimeOptions};
use duroxide::{ActivityContext, Client, OrchestrationContext, OrchestrationStatus};

type Metrics = BTreeMap<String, f64>;

fn registries() -> (ActivityRegistry, OrchestrationRegistry) {
    let activities = ActivityRegistry::builder()
        .register("Echo", |_ctx: ActivityContext, input: String| async move {
            Ok(input)
        })
        .build();
    let orchestrations = OrchestrationRegistry::builder()
        .register(
            "One",
            |ctx: OrchestrationContext, input: String| async move {
                ctx.schedule_activity("Echo", input).await
            },
        )
        .register(
            "Fan",
            |ctx: OrchestrationContext, input: String| async move {
                let n: u64 = input.parse().map_err(|e| format!("{e}"))?;
                let calls = (0..n)
                    .map(|i| ctx.schedule_activity("Echo", i.to_string()))
                    .collect();
                let mut total = 0u64;
                for result in ctx.join(calls).await {
                    total += result?.parse::<u64>().map_err(|e| format!("{e}"))?;
                }
                Ok(total.to_string())
            },
        )
        .register(
            "Chain",
            |ctx: OrchestrationContext, input: String| async move {
                let n: u64 = input.parse().map_err(|e| format!("{e}"))?;
                let mut total = 0u64;
                for i in 0..n {
                    let out = ctx.schedule_activity("Echo", i.to_string()).await?;
                    total += out.parse::<u64>().map_err(|e| format!("{e}"))?;
                }
                Ok(total.to_string())
            },
        )
        .register(
            "Timer",
            |ctx: OrchestrationContext, input: String| async move {
                let ms: u64 = input.parse().map_err(|e| format!("{e}"))?;
                ctx.schedule_timer(Duration::from_millis(ms)).await;
                Ok(input)
            },
        )
        .build();
    (activities, orchestrations)
}

async fn provider(kind: &str) -> Arc<dyn Provider> {
    if kind == "sqlite" {
        let dir =
            std::env::temp_dir().join(format!("duroxide-native-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("bench.db");
        let _ = std::fs::remove_file(&path);
        let url = format!("sqlite:{}?mode=rwc", path.display());
        Arc::new(SqliteProvider::new(&url, None).await.expect("open sqlite"))
    } else {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into());
        let schema = format!("bench_native_{}", std::process::id());
        Arc::new(
            duroxide_pg_opt::PostgresProvider::new_with_schema(&url, Some(&schema))
                .await
                .expect("connect postgres"),
        )
    }
}

async fn run_many(client: &Client, name: &str, inputs: &[String]) -> f64 {
    let ids: Vec<String> = (0..inputs.len())
        .map(|i| format!("{name}-{}-{i}", nanos()))
        .collect();
    let started = Instant::now();
    for (id, input) in ids.iter().zip(inputs) {
        client
            .start_orchestration(id, name, input.clone())
            .await
            .expect("start");
    }
    for id in &ids {
        match client
            .wait_for_orchestration(id, Duration::from_secs(600))
            .await
        {
            Ok(OrchestrationStatus::Completed { .. }) => {}
            // The stock SQLite provider loses an orchestration to lock errors now and
            // then: report it (benchmarks/sqlite_contention.py counts these lines) and go on.
            other => {
                eprintln!("FAILED ORCHESTRATION {name} {id}: {other:?}");
            }
        }
    }
    started.elapsed().as_secs_f64()
}

async fn run_one(client: &Client, name: &str, input: String, expected: String) -> f64 {
    let id = format!("{name}-{}", nanos());
    let started = Instant::now();
    client
        .start_orchestration(&id, name, input)
        .await
        .expect("start");
    match client
        .wait_for_orchestration(&id, Duration::from_secs(600))
        .await
    {
        Ok(OrchestrationStatus::Completed { output, .. }) => assert_eq!(output, expected, "{name}"),
        other => {
            eprintln!("FAILED ORCHESTRATION {name} {id}: {other:?}");
        }
    }
    started.elapsed().as_secs_f64()
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn metric(pairs: &[(&str, f64)]) -> Metrics {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// CPU seconds this process has used, every thread (Linux: /proc/self/stat, in 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name's closing parenthesis: fields 3.. ; utime and stime are 14, 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn scenarios(
    client: &Client,
    quick: bool,
    chains: &[u64],
    only: &dyn Fn(&str) -> bool,
) -> Vec<(String, Metrics)> {
    let mut out = Vec::new();
    if only("latency") {
        let cpu0 = cpu_seconds();
        let mut samples = Vec::new();
        for i in 0..20 {
            samples.push(run_many(client, "One", &[i.to_string()]).await * 1000.0);
        }
        samples.sort_by(f64::total_cmp);
        out.push((
            "latency".into(),
            metric(&[
                ("median_ms", (samples[9] + samples[10]) / 2.0),
                ("cpu_ms", (cpu_seconds() - cpu0) * 1000.0 / 20.0),
            ]),
        ));
    }

    if only("throughput") {
        let n = if quick { 100 } else { 300 };
        let cpu0 = cpu_seconds();
        let inputs: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let s = run_many(client, "One", &inputs).await;
        out.push((
            "throughput".into(),
            metric(&[
                ("orchestrations_per_s", n as f64 / s),
                ("seconds", s),
                ("cpu_ms", (cpu_seconds() - cpu0) * 1000.0 / n as f64),
            ]),
        ));
    }

    if only("fanout") {
        let n: u64 = if quick { 100 } else { 500 };
        let cpu0 = cpu_seconds();
        let s = run_one(
            client,
            "Fan",
            n.to_string(),
            (0..n).sum::<u64>().to_string(),
        )
        .await;
        out.push((
            "fanout".into(),
            metric(&[
                ("activities_per_s", n as f64 / s),
                ("seconds", s),
                ("cpu_ms", (cpu_seconds() - cpu0) * 1000.0 / n as f64),
            ]),
        ));
    }

    if only("timers") {
        let n = if quick { 50 } else { 200 };
        let cpu0 = cpu_seconds();
        let s = run_many(client, "Timer", &vec!["10".to_string(); n]).await;
        out.push((
            "timers".into(),
            metric(&[
                ("orchestrations_per_s", n as f64 / s),
                ("seconds", s),
                ("cpu_ms", (cpu_seconds() - cpu0) * 1000.0 / n as f64),
            ]),
        ));
    }

    for &n in chains.iter().filter(|n| only(&format!("chain-{n}"))) {
        let cpu0 = cpu_seconds();
        let s = run_one(
            client,
            "Chain",
            n.to_string(),
            (0..n).sum::<u64>().to_string(),
        )
        .await;
        out.push((
            format!("chain-{n}"),
            metric(&[
                ("ms_per_step", s * 1000.0 / n as f64),
                ("seconds", s),
                ("cpu_ms", (cpu_seconds() - cpu0) * 1000.0 / n as f64),
            ]),
        ));
    }
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // Before the runtime installs its stdout logger: keep stdout for the results.
    // RUST_LOG=warn shows the core's warnings (benchmarks/sqlite_contention.py counts them).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let kinds: Vec<&str> = match value("--provider").as_deref().unwrap_or("sqlite") {
        "both" => vec!["sqlite", "postgres"],
        "postgres" => vec!["postgres"],
        _ => vec!["sqlite"],
    };
    let quick = args.iter().any(|a| a == "--quick");
    // --only latency,fanout: just those scenarios.
    let only_list: Option<Vec<String>> =
        value("--only").map(|v| v.split(',').map(str::to_string).collect());
    let only = |name: &str| {
        only_list
            .as_ref()
            .is_none_or(|l| l.iter().any(|n| n == name))
    };
    // --chains 100,200,400,800: the chain lengths (default 100,200,400; --quick: 100).
    let chains: Vec<u64> = match value("--chains") {
        Some(v) => v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        None if quick => vec![100],
        None => vec![100, 200, 400],
    };
    let concurrency = |flag: &str, default: usize| {
        value(flag)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let mut results: BTreeMap<String, BTreeMap<String, Metrics>> = BTreeMap::new();
    for kind in kinds {
        let store = provider(kind).await;
        let (activities, orchestrations) = registries();
        // The Python runtime's defaults (python/duroxide/options.py), not the core's
        // (2 and 2), unless given: the same options as bench.py's runtime.
        let options = RuntimeOptions {
            dispatcher_min_poll_interval: Duration::from_millis(1),
            orchestration_concurrency: concurrency("--orchestration-concurrency", 4),
            worker_concurrency: concurrency("--worker-concurrency", 2),
            ..Default::default()
        };
        let runtime =
            Runtime::start_with_options(store.clone(), activities, orchestrations, options).await;
        let client = Client::new(store);
        for (name, metrics) in scenarios(&client, quick, &chains, &only).await {
            let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v:.2}")).collect();
            println!("{kind:9} {name:11} {}", shown.join(", "));
            results
                .entry(kind.to_string())
                .or_default()
                .insert(name, metrics);
        }
        runtime.shutdown(None).await;
    }
    if let Some(path) = value("--json") {
        std::fs::write(path, serde_json::to_string_pretty(&results).expect("json"))
            .expect("write json");
    }
}
