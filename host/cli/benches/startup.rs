//! Start-up cost of loading every stock plugin, as the added time over `tether --version` (which
//! loads none), measured in the same run; the cold compile of all stock plugins; their sizes.
//!
//! Run: `cargo bench -p tether --bench startup`

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 40;

fn tether(home: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .env("XDG_CONFIG_HOME", home.join("c"))
        .env("XDG_DATA_HOME", home.join("d"))
        .env("XDG_CACHE_HOME", home.join("k"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running tether");
    let elapsed = start.elapsed();
    assert!(status.success(), "tether {args:?} failed");
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let home = tempfile::tempdir().expect("temp dir");
    // Cold: an empty cache each time, so every stock plugin is compiled.
    let cold: Vec<Duration> = (0..5)
        .map(|_| {
            let _ = std::fs::remove_dir_all(home.path().join("k"));
            tether(home.path(), &["-p", "/exit"])
        })
        .collect();
    // Warm: interleaved so that machine noise hits both sides alike.
    let (mut version, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        version.push(tether(home.path(), &["--version"]));
        warm.push(tether(home.path(), &["-p", "/exit"]));
    }
    let (v, w, c) = (median(version), median(warm), median(cold));
    println!("startup: medians of {RUNS} warm runs (interleaved) and 5 cold runs\n");
    println!("| case | median ms |");
    println!("|---|---|");
    println!(
        "| `tether --version` (baseline: no plugins) | {:.1} |",
        ms(v)
    );
    println!(
        "| `tether -p /exit`, warm cache (every stock plugin loaded) | {:.1} |",
        ms(w)
    );
    println!(
        "| added by loading the plugins (warm − baseline) | {:.1} |",
        ms(w) - ms(v)
    );
    println!("| ratio warm ÷ baseline | {:.2} |", ms(w) / ms(v));
    println!(
        "| `tether -p /exit`, cold cache (compiles every stock plugin) | {:.1} |",
        ms(c)
    );

    println!("\nstock component sizes (release, wasm32-wasip2):\n");
    println!("| component | bytes |");
    println!("|---|---|");
    let mut sizes: Vec<_> = tether_stock::STOCK
        .iter()
        .map(|p| (p.crate_name, p.bytes.len()))
        .collect();
    sizes.sort_by_key(|(name, _)| *name);
    for (name, size) in &sizes {
        println!("| {name} | {size} |");
    }
    let total: usize = sizes.iter().map(|(_, s)| s).sum();
    println!("| **all {}** | {total} |", sizes.len());
}
