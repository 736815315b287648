//! What a flood of logins costs the relay: its resident memory (VmRSS, and the peak VmHWM, from
//! `/proc`) and how many passwords it checks under bursts of concurrent `POST /login`.
//! BENCHMARKS.md ("Login bursts") records the figures.
//!
//! ```sh
//! cargo bench -p tether-relay --bench login_burst
//! cargo bench -p tether-relay --bench login_burst -- --burst 500
//! ```
//!
//! The relay runs in a child process (this binary again, with `TETHER_BENCH_ROLE=relay`), so the
//! figures are its own and nothing else's. Each burst is against a fresh relay:
//!
//! - N different unknown user names at once, with the throttles raised out of the way, so that
//!   only the bound on password hashing can keep memory in check (argon2id's default parameters
//!   take 19 MiB per check): once with that bound lifted to tokio's 512 blocking threads (how
//!   every burst was checked before the throttle reserved attempts), once with it;
//! - the same names with the default throttles (20 failures per address);
//! - N wrong passwords for one account at once, default throttles.
//!
//! The number of `401`s is the number of passwords checked.
//!
//! `cargo test --benches` runs this binary without `--bench`; it then exits at once.

mod common;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tether_relay::{Relay, RelayConfig, users};

use common::{ROLE, Server};

/// `default` or `open` (throttles out of the way).
const THROTTLE: &str = "TETHER_BENCH_THROTTLE";
/// `bounded` (the default bound on password checks) or `unbounded`.
const HASHING: &str = "TETHER_BENCH_HASHING";
const USER: &str = "bench";
const PASSWORD: &str = "correct horse battery";

fn main() -> anyhow::Result<()> {
    if std::env::var(ROLE).as_deref() == Ok("relay") {
        return tokio::runtime::Runtime::new()?.block_on(relay_role());
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "login burst bench: skipped (run it with `cargo bench -p tether-relay --bench login_burst`)"
        );
        return Ok(());
    }
    let burst = args
        .iter()
        .position(|a| a == "--burst")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(200usize);
    tokio::runtime::Runtime::new()?.block_on(async {
        println!(
            "login burst bench — {} cores; relay in a child process; {burst} concurrent logins",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "| burst | idle VmRSS | peak VmHWM | VmRSS after | 401 (checked) | 429 | 503 | other | wall |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let names = |i| format!("nobody{i}");
        run("unknown names, hashing unbounded", ("open", "unbounded"), burst, names).await?;
        run("unknown names, hashing bounded", ("open", "bounded"), burst, names).await?;
        run("unknown names, default throttles", ("default", "bounded"), burst, names).await?;
        let alice = |_| USER.to_owned();
        run("one account, default throttles", ("default", "bounded"), burst, alice).await?;
        anyhow::Ok(())
    })
}

async fn relay_role() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("relay.db");
    users::add(&db.as_path().into(), USER, PASSWORD)?;
    let mut config = RelayConfig::new(&db);
    if std::env::var(THROTTLE).as_deref() == Ok("open") {
        config.throttle.failures_per_account = 1_000_000;
        config.throttle.failures_per_address = 1_000_000;
    }
    if std::env::var(HASHING).as_deref() == Ok("unbounded") {
        // As many at once as tokio's blocking pool had threads (512), and nobody refused.
        config.throttle.password_workers = 512;
        config.throttle.password_queue = 0;
    }
    let relay = Relay::start(config, "127.0.0.1:0".parse()?).await?;
    println!("ADDR {}", relay.addr());
    // The parent closes our stdin to stop us (or dies, which does the same).
    let _ = tokio::task::spawn_blocking(|| {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), relay.stop()).await;
    Ok(())
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

async fn login(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<u16> {
    let response = http
        .post(format!("{base}/login"))
        .header("origin", base)
        .form(&[("username", name), ("password", "wrong password")])
        .send()
        .await?;
    Ok(response.status().as_u16())
}

async fn run(
    label: &str,
    setup: (&str, &str),
    burst: usize,
    name: impl Fn(usize) -> String,
) -> anyhow::Result<()> {
    let (throttle, hashing) = setup;
    let relay = Server::spawn("relay", &[(THROTTLE, throttle), (HASHING, hashing)])?;
    let base = format!("http://{}", relay.addrs[0]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .pool_max_idle_per_host(0)
        .build()?;
    // One check first, so that the idle figure includes argon2's first allocation.
    login(&http, &base, "warm-up").await.context("warm-up")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = relay.status("VmRSS:");
    let started = Instant::now();
    let tasks: Vec<_> = (0..burst)
        .map(|i| {
            let (http, base, name) = (http.clone(), base.clone(), name(i));
            tokio::spawn(async move { login(&http, &base, &name).await })
        })
        .collect();
    let mut counts = [0usize; 4];
    for task in tasks {
        let slot = match task.await?? {
            401 => 0,
            429 => 1,
            503 => 2,
            _ => 3,
        };
        counts[slot] += 1;
    }
    let wall = started.elapsed();
    let peak = relay.status("VmHWM:");
    let after = relay.status("VmRSS:");
    println!(
        "| {label} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
        mib(idle),
        mib(peak),
        mib(after),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        wall.as_secs_f64()
    );
    Ok(())
}
