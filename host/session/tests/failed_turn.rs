//! A turn the engine fails leaves the conversation as it was before it, so that one permanent
//! refusal (a content filter's 400) cannot break every later turn: the next request carries
//! the next message alone, and surfaces are told what was not sent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::stream;
use tether_engines::usage::{Price, TurnUsage};
use tether_engines::{ChatRole, Engine, EngineError, EngineEvent, EngineStream, TurnRequest};
use tether_plugins::{Runtime, RuntimeOptions};
use tether_protocol::Origin;
use tether_session::{Dirs, Output, Preferences, Registry, Session, SessionConfig};
use tokio_util::sync::CancellationToken;

/// One scripted turn: text pieces, then an error or not.
#[derive(Clone)]
struct Turn {
    pieces: Vec<&'static str>,
    error: Option<&'static str>,
}

const REFUSED: &str = "OpenAI refused the request (400 content_filter: The response was filtered.)";

fn refused() -> Turn {
    Turn {
        pieces: vec![],
        error: Some(REFUSED),
    }
}

fn answer(text: &'static str) -> Turn {
    Turn {
        pieces: vec![text],
        error: None,
    }
}

/// An engine that answers from a script and keeps every request it was given.
#[derive(Default)]
struct Scripted {
    turns: Mutex<VecDeque<Turn>>,
    requests: Mutex<Vec<TurnRequest>>,
    resets: AtomicUsize,
}

#[async_trait::async_trait]
impl Engine for Scripted {
    fn name(&self) -> &str {
        "openai"
    }
    fn model(&self) -> String {
        "scripted".into()
    }
    fn price(&self) -> Price {
        Price::default()
    }
    fn reply(&self, request: TurnRequest) -> EngineStream {
        self.requests.lock().unwrap().push(request);
        let turn = self
            .turns
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted turn");
        let mut items: Vec<Result<EngineEvent, EngineError>> = turn
            .pieces
            .iter()
            .map(|p| Ok(EngineEvent::Delta(p.to_string())))
            .collect();
        match turn.error {
            Some(e) => items.push(Err(EngineError(e.into()))),
            None => items.push(Ok(EngineEvent::Usage(TurnUsage::default()))),
        }
        Box::pin(stream::iter(items))
    }
    fn reset(&self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
}

struct Harness {
    session: Session,
    engine: Arc<Scripted>,
    _dir: tempfile::TempDir,
}

fn harness(turns: Vec<Turn>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.path().join("cache")),
        key_file: Some(dir.path().join("key")),
    })
    .unwrap();
    let config = SessionConfig {
        dirs: Dirs::under(
            &dir.path().join("config"),
            &dir.path().join("data"),
            &dir.path().join("cache"),
        ),
        cwd: dir.path().to_path_buf(),
        version: "0.1.0".into(),
        limits: Default::default(),
        remote: None,
        app_links: vec![],
    };
    let engine = Arc::new(Scripted {
        turns: Mutex::new(turns.into()),
        ..Default::default()
    });
    let session = Session::new(
        config,
        Arc::new(runtime),
        Registry::default(),
        engine.clone(),
        Preferences::default(),
    );
    Harness {
        session,
        engine,
        _dir: dir,
    }
}

impl Harness {
    async fn send(&mut self, text: &str, origin: Origin) -> Vec<Output> {
        let mut out = Vec::new();
        self.session
            .submit(text, origin, &mut out, &CancellationToken::new())
            .await;
        out
    }

    fn user_messages(&self, request: usize) -> Vec<String> {
        self.engine.requests.lock().unwrap()[request]
            .messages
            .iter()
            .filter(|m| m.role == ChatRole::User)
            .map(|m| m.text.clone())
            .collect()
    }
}

#[tokio::test]
async fn a_refused_turn_is_not_sent_again_with_the_next_one() {
    let mut h = harness(vec![refused(), answer("Hello!")]);
    let out = h
        .send("something the filter blocks", Origin::Terminal)
        .await;
    assert!(
        h.session.transcript().is_empty(),
        "{:?}",
        h.session.transcript()
    );
    let failed = out.iter().find_map(|o| match o {
        Output::TurnFailed {
            text,
            origin,
            error,
        } => Some((text.clone(), *origin, error.clone())),
        _ => None,
    });
    let (text, origin, error) = failed.expect("the failure is reported");
    assert_eq!(text, "something the filter blocks");
    assert_eq!(origin, Origin::Terminal);
    assert!(error.starts_with(&format!("openai: {REFUSED}.")), "{error}");
    assert!(error.contains("Not sent"), "{error}");
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::AssistantEnd { .. } | Output::Error(_))),
        "no empty reply, no second error: {out:?}"
    );

    h.send("hello", Origin::Terminal).await;
    assert_eq!(h.user_messages(1), ["hello"]);
    let roles: Vec<ChatRole> = h
        .session
        .transcript()
        .model_messages()
        .iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(roles, [ChatRole::User, ChatRole::Assistant]);
}

#[tokio::test]
async fn a_phones_refused_message_is_reported_for_the_phone() {
    let mut h = harness(vec![answer("One."), refused(), answer("Two.")]);
    h.send("first", Origin::Terminal).await;
    let out = h.send("blocked", Origin::Bridge).await;
    assert!(out.iter().any(|o| matches!(
        o,
        Output::TurnFailed { text, origin: Origin::Bridge, .. } if text == "blocked"
    )));
    assert_eq!(h.session.transcript().len(), 2);
    h.send("second", Origin::Bridge).await;
    assert_eq!(h.user_messages(2), ["first", "second"]);
}

#[tokio::test]
async fn an_engine_that_keeps_its_own_context_starts_afresh_after_a_refusal() {
    let mut h = harness(vec![refused(), answer("ok")]);
    h.send("blocked", Origin::Terminal).await;
    assert_eq!(h.engine.resets.load(Ordering::SeqCst), 1);
    h.send("fine", Origin::Terminal).await;
    assert_eq!(
        h.engine.resets.load(Ordering::SeqCst),
        1,
        "only after a failure"
    );
}

#[tokio::test]
async fn a_failure_after_text_keeps_the_text_and_is_not_an_interruption() {
    let mut h = harness(vec![Turn {
        pieces: vec!["Part of it"],
        error: Some("the connection closed. The reply is incomplete."),
    }]);
    let out = h.send("go", Origin::Terminal).await;
    let end = out.iter().find_map(|o| match o {
        Output::AssistantEnd {
            text, interrupted, ..
        } => Some((text.clone(), *interrupted)),
        _ => None,
    });
    assert_eq!(end, Some(("Part of it".to_string(), false)));
    // The error follows the reply it ends.
    assert!(
        matches!(out.last(), Some(Output::Error(e)) if e.contains("incomplete")),
        "{out:?}"
    );
    assert!(!out.iter().any(|o| matches!(o, Output::TurnFailed { .. })));
    assert_eq!(h.session.transcript().len(), 2);
    assert_eq!(h.engine.resets.load(Ordering::SeqCst), 0);
}
