//! Dispatch of a slash command through a real session: instantiate the component in a fresh
//! store, run it, check and apply its effects. Compared, in the same run, with the floor wasmtime
//! itself sets: instantiating a minimal component and calling one export.
//!
//! Run: `cargo bench -p tether-session --bench dispatch`

use std::sync::Arc;
use std::time::{Duration, Instant};

use tether_engines::echo::Echo;
use tether_plugins::{Runtime, RuntimeOptions};
use tether_protocol::Origin;
use tether_session::registry::Registry;
use tether_session::user_plugins::UserPlugins;
use tether_session::{Dirs, Output, Preferences, Session, SessionConfig};
use tokio_util::sync::CancellationToken;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

const WARMUP: usize = 300;
const SAMPLES: usize = 5000;

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        mean,
    }
}

fn measure(mut f: impl FnMut()) -> Stats {
    for _ in 0..WARMUP {
        f();
    }
    let samples = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    stats(samples)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The floor: wasmtime's own instantiate + call of a component with one export and no imports.
fn bare_wasmtime() -> Stats {
    let engine = Engine::default();
    let component = Component::new(
        &engine,
        r#"(component
            (core module $m (func (export "run") (result i32) i32.const 7))
            (core instance $i (instantiate $m))
            (func (export "run") (result u32) (canon lift (core func $i "run"))))"#,
    )
    .expect("minimal component");
    let pre = Linker::<()>::new(&engine)
        .instantiate_pre(&component)
        .expect("links");
    measure(|| {
        let mut store = Store::new(&engine, ());
        let instance = pre.instantiate(&mut store).expect("instantiates");
        let run = instance
            .get_typed_func::<(), (u32,)>(&mut store, "run")
            .expect("export");
        assert_eq!(run.call(&mut store, ()).expect("runs").0, 7);
    })
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dirs = Dirs::under(
        &dir.path().join("c"),
        &dir.path().join("d"),
        &dir.path().join("k"),
    );
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(dirs.components()),
        key_file: Some(dirs.cache_key()),
    })
    .expect("runtime");
    let (registry, warnings) = Registry::load(
        &runtime,
        &UserPlugins::new(dirs.user_plugins()),
        &mut |_| {},
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let config = SessionConfig {
        dirs: dirs.clone(),
        cwd: dir.path().to_path_buf(),
        version: "bench".into(),
        limits: Default::default(),
        remote: None,
        app_links: Vec::new(),
    };
    let mut session = Session::new(
        config,
        Arc::new(runtime),
        registry,
        Arc::new(Echo::new(Duration::ZERO)),
        Preferences::default(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let cancel = CancellationToken::new();
    let mut dispatch = |input: &'static str| {
        measure(|| {
            let mut out: Vec<Output> = Vec::new();
            rt.block_on(session.submit(input, Origin::Terminal, &mut out, &cancel));
            assert!(
                !out.iter().any(|o| matches!(o, Output::Error(_))),
                "{input}: {out:?}"
            );
        })
    };

    let floor = bare_wasmtime();
    let rows = [
        ("/clear (no queries; trivial)", dispatch("/clear")),
        ("/cost (2 queries, text)", dispatch("/cost")),
        ("/help (command list, markdown table)", dispatch("/help")),
    ];
    println!(
        "dispatch: {SAMPLES} samples after {WARMUP} warm-up calls, one fresh Store per call\n"
    );
    println!("| case | p50 µs | p99 µs | mean µs | p50 ÷ floor |");
    println!("|---|---|---|---|---|");
    println!(
        "| floor: bare wasmtime instantiate + call (no WASI) | {:.1} | {:.1} | {:.1} | 1.0 |",
        us(floor.p50),
        us(floor.p99),
        us(floor.mean)
    );
    for (name, s) in rows {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            us(s.p50),
            us(s.p99),
            us(s.mean),
            us(s.p50) / us(floor.p50)
        );
    }
}
