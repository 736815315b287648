use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use tether_plugins::*;
use tether_protocol::{Capabilities, CommandSource, gate::Context};

struct Q;
impl HostQueries for Q {
    fn session(&self) -> SessionInfo {
        SessionInfo::default()
    }
    fn usage(&self) -> TokenUsage {
        TokenUsage::default()
    }
    fn transcript(&self, _l: usize) -> Vec<Message> {
        vec![]
    }
    fn preferences(&self) -> Preferences {
        Preferences::default()
    }
    fn commands(&self, _c: Context) -> Vec<tether_protocol::CommandInfo> {
        vec![]
    }
    fn files(&self) -> Vec<ContextFile> {
        vec![]
    }
}

#[test]
fn smoke() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.path().join("c")),
        key_file: Some(dir.path().join("k")),
    })
    .unwrap();
    let s = tether_stock::STOCK
        .iter()
        .find(|p| p.crate_name == "exit")
        .unwrap();
    let t = Instant::now();
    let p = rt
        .load(PluginSource {
            label: "stock exit".into(),
            source: CommandSource::Stock,
            bytes: Cow::Borrowed(s.bytes),
            sha256: Some(s.sha256.into()),
        })
        .unwrap();
    eprintln!("load {:?} {:?}", t.elapsed(), p.manifest);
    let t = Instant::now();
    let p2 = rt
        .load(PluginSource {
            label: "stock exit".into(),
            source: CommandSource::Stock,
            bytes: Cow::Borrowed(s.bytes),
            sha256: Some(s.sha256.into()),
        })
        .unwrap();
    eprintln!("cached load {:?}", t.elapsed());
    let q: Arc<dyn HostQueries> = Arc::new(Q);
    for _ in 0..5 {
        let t = Instant::now();
        let e = rt
            .run(Call {
                plugin: &p2,
                args: "",
                context: Context::Local,
                granted: Capabilities::all(),
                limits: Limits::default(),
                queries: q.clone(),
            })
            .unwrap();
        eprintln!("run {:?} {:?}", t.elapsed(), e);
    }
}
