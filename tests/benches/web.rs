//! The web client's figures, measured in headless Chromium against `tether --remote` on its
//! embedded relay (loopback, release build, echo engine):
//!
//! - **page weight**: bytes transferred for the session page and every subresource on a first
//!   load (empty browser cache), from the Performance API (`transferSize`, `encodedBodySize`,
//!   `decodedBodySize`);
//! - **time to first rendered message**: `window.tetherStats.firstMessageAt` (ms after the
//!   navigation started, at the frame after the first message is in the DOM) when opening a
//!   session that has history, against the navigation time of the relay's smallest page
//!   (`/healthz`) in the same browser;
//! - **delta→paint delay**: `window.tetherStats.paintDelays` over long streamed replies (each
//!   delta's arrival to the frame after the DOM update), against the floor of that measurement:
//!   the same two animation frames after a timer at a random moment, on an idle page.
//!
//! Run: `cargo bench -p tether-e2e --bench web` (`--quick` for fewer samples).

use std::time::Duration;

use serde_json::{Value, json};
use tether_e2e::Tether;
use tether_e2e::browser::{self, Browser, Options};
use tether_e2e::process::{Remote, reply_to};

const LOADS: usize = 10;
const WARMUP_LOADS: usize = 2;
const HISTORY: usize = 20;
const LONG_REPLIES: usize = 3;
const WORDS: usize = 200;
const ECHO_DELAY_MS: u64 = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("web bench: skipped (run it with `cargo bench -p tether-e2e --bench web`)");
        return;
    }
    if let Some(why) = browser::unavailable() {
        eprintln!("web bench: {why}");
        std::process::exit(1);
    }
    let quick = args.iter().any(|a| a == "--quick");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(run(quick));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// The navigation entry and every resource entry of the page now: (name, type, transfer,
/// encoded, decoded), the streams left out.
const ENTRIES: &str = "return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')] \
    .filter(e => !/\\/(events\\/stream|ws)(\\?|$)/.test(e.name)) \
    .map(e => [e.name, e.entryType === 'navigation' ? 'document' : e.initiatorType, e.transferSize, e.encodedBodySize, e.decodedBodySize])";

/// The navigation's timings: [responseEnd, domContentLoadedEventEnd, loadEventEnd].
const NAV_TIMES: &str = "const n = performance.getEntriesByType('navigation')[0]; \
    return n && n.loadEventEnd > 0 ? [n.responseEnd, n.domContentLoadedEventEnd, n.loadEventEnd] : null";

/// Double requestAnimationFrame after timers at random moments: the floor of the page's
/// delta→paint measurement.
const FRAME_FLOOR: &str = "const n = arguments[0]; const out = []; \
    return new Promise(resolve => { const one = () => { const t = performance.now(); \
      requestAnimationFrame(() => requestAnimationFrame(() => { out.push(performance.now() - t); \
        if (out.length >= n) resolve(out); else setTimeout(one, Math.random() * 17); })); }; one(); })";

async fn wait_reply(b: &Browser, said: &str) {
    b.wait_js(
        &format!("the reply to {said:?}"),
        "return [...document.querySelectorAll('#messages .msg.assistant:not(.streaming)')].some(m => m.textContent.includes(arguments[0]))",
        vec![json!(format!("You said: {said}"))],
    )
    .await;
    b.wait_text("#state", "idle").await;
}

async fn run(quick: bool) {
    let loads = if quick { 4 } else { LOADS };
    let t = Tether::new().echo_delay_ms(ECHO_DELAY_MS);
    eprintln!("web bench: building and starting tether --remote (release)…");
    let mut remote = Remote::start(&t, &["--listen", "127.0.0.1:0"]);
    let (base, session, _) = remote.parts();
    let page = format!("{base}/code/{session}");
    let b = Browser::launch("web-bench", Options::default())
        .await
        .expect("a browser");
    b.cdp("Network.enable", json!({})).await;

    // 1. Page weight: the first load, empty cache (the pairing URL redirects to the page).
    b.cdp("Network.clearBrowserCache", json!({})).await;
    b.goto(&remote.url).await;
    b.wait_attr("#connection", "data-state", "live").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let entries = b.js(ENTRIES, vec![]).await;
    let mut weight = Vec::new();
    for e in entries.as_array().unwrap() {
        let name = e[0].as_str().unwrap_or("?");
        let path = name.trim_start_matches(&base).to_owned();
        let path = path.split('?').next().unwrap_or("").to_owned();
        let path = if path.starts_with("/code/") {
            "/code/<id>".to_owned()
        } else {
            path
        };
        weight.push((
            path,
            e[1].as_str().unwrap_or("?").to_owned(),
            e[2].as_f64().unwrap_or(0.0),
            e[3].as_f64().unwrap_or(0.0),
            e[4].as_f64().unwrap_or(0.0),
        ));
    }

    // A history: terminal lines, each with its reply.
    for i in 0..HISTORY {
        remote.proc.line(&format!(
            "history line {i}: a few words to make the message"
        ));
    }
    wait_reply(
        &b,
        &format!(
            "history line {}: a few words to make the message",
            HISTORY - 1
        ),
    )
    .await;
    let shown = b.count("#messages .msg").await;

    // 2. Time to the first rendered message, cached assets and cold, against /healthz.
    let mut first_warm = Vec::new();
    let mut first_cold = Vec::new();
    let mut load_warm = Vec::new();
    let mut healthz = Vec::new();
    for i in 0..WARMUP_LOADS + loads {
        for cold in [false, true] {
            if cold {
                b.cdp("Network.clearBrowserCache", json!({})).await;
            }
            b.goto(&page).await;
            let first = b
                .wait_js(
                    "the first message",
                    "return window.tetherStats && window.tetherStats.firstMessageAt",
                    vec![],
                )
                .await;
            let nav = b.wait_js("the load event", NAV_TIMES, vec![]).await;
            if i >= WARMUP_LOADS {
                let first = first.as_f64().unwrap();
                if cold {
                    first_cold.push(first);
                } else {
                    first_warm.push(first);
                    load_warm.push(nav[2].as_f64().unwrap());
                }
            }
        }
        b.goto(&format!("{base}/healthz")).await;
        let nav = b.wait_js("the load event", NAV_TIMES, vec![]).await;
        if i >= WARMUP_LOADS {
            healthz.push(nav[2].as_f64().unwrap());
        }
    }

    // 3. Delta→paint delay over long streamed replies, and the floor on an idle page.
    b.goto(&page).await;
    b.wait_attr("#connection", "data-state", "live").await;
    b.wait_text("#state", "idle").await;
    b.js("window.tetherStats.paintDelays.length = 0", vec![])
        .await;
    let words: Vec<String> = (0..WORDS).map(|i| format!("w{i}")).collect();
    let mut deltas = 0;
    for r in 0..LONG_REPLIES {
        let said = format!("reply {r}: {}", words.join(" "));
        deltas += reply_to(&said).split(' ').count();
        b.say(&said).await;
        wait_reply(&b, &said).await;
    }
    let paint = sorted(floats(
        &b.js("return window.tetherStats.paintDelays", vec![]).await,
    ));
    let floor = sorted(floats(
        &b.js(FRAME_FLOOR, vec![json!(paint.len().max(200))]).await,
    ));

    remote.proc.close_stdin();
    b.close().await;

    // The table.
    println!();
    println!("## Page weight, first load (empty cache)");
    println!();
    println!("| resource | type | transferred B | encoded B | decoded B |");
    println!("|---|---|---|---|---|");
    let (mut tt, mut te, mut td) = (0.0, 0.0, 0.0);
    for (path, kind, t, e, d) in &weight {
        // A second request for something already fetched comes from the cache.
        let cached = if *t == 0.0 && *d > 0.0 {
            " (from cache)"
        } else {
            ""
        };
        println!("| `{path}`{cached} | {kind} | {t:.0} | {e:.0} | {d:.0} |");
        tt += t;
        te += e;
        td += d;
    }
    println!("| **total** | | **{tt:.0}** | {te:.0} | {td:.0} |");
    println!();
    println!(
        "## Time to the first rendered message ({shown} messages of history, {} loads each, median)",
        first_warm.len()
    );
    println!();
    println!("| case | p50 ms | min ms | max ms |");
    println!("|---|---|---|---|");
    let row = |name: &str, v: Vec<f64>| {
        let v = sorted(v);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            percentile(&v, 0.5),
            v[0],
            v[v.len() - 1]
        );
        percentile(&v, 0.5)
    };
    let base_ms = row(
        "`/healthz` navigation to load event (baseline)",
        healthz.clone(),
    );
    row("session page: load event, cached assets", load_warm);
    let warm = row(
        "**session page: first message painted, cached assets**",
        first_warm,
    );
    let cold = row(
        "session page: first message painted, empty cache",
        first_cold,
    );
    println!();
    println!(
        "first message ÷ baseline: {:.1} (cached), {:.1} (cold)",
        warm / base_ms,
        cold / base_ms
    );
    println!();
    println!(
        "## Delta→paint ({LONG_REPLIES} replies of ~{} deltas, {ECHO_DELAY_MS} ms apart)",
        deltas / LONG_REPLIES
    );
    println!();
    println!("| case | samples | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (name, v) in [
        ("two frames after a random moment (floor)", &floor),
        ("**delta arrival → painted**", &paint),
    ] {
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            v[v.len() - 1]
        );
    }
}
