//! `[notify] webhook`: the terminal's calls sent to a URL the person owns as well, so that they
//! are called without the installed web client, and from the terminal itself (the embedded
//! relay works the same). What the call says goes to that service in plain text: the
//! end-to-end guarantee ends there (docs/security.md). The page URL it carries has no key.
//!
//! What is sent where is [`request`], a pure function; [`Webhook`] sends in order, one at a
//! time, each once (a retry could call twice for one request).

use std::time::Duration;

use serde_json::{Value, json};
use tether_protocol::push::PushKind;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::rule::Act;
use crate::engines::config::{NotifySection, WebhookFormat};

/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The session the calls are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    pub session: String,
    pub title: String,
    /// The session's page, without any key or pairing secret.
    pub page: String,
}

/// The webhook, sending from a task of its own.
#[derive(Clone)]
pub struct Webhook {
    queue: UnboundedSender<Act>,
}

impl Webhook {
    /// The webhook `[notify]` asks for, if any. `Err` is for the person: the setting cannot be
    /// used as it stands (the token's variable is not set), and no webhook is called.
    pub fn from_config(section: &NotifySection, about: About) -> Result<Option<Webhook>, String> {
        let Some(url) = section.webhook.clone() else {
            return Ok(None);
        };
        let token = match &section.webhook_token_env {
            Some(var) => match std::env::var(var) {
                Ok(token) if !token.trim().is_empty() => Some(token.trim().to_owned()),
                _ => {
                    return Err(format!(
                        "[notify] webhook_token_env names {var}, which is not set: the webhook is not called."
                    ));
                }
            },
            None => None,
        };
        let http = reqwest12::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest12::redirect::Policy::none())
            .build()
            .map_err(|e| format!("[notify] webhook: cannot make an HTTP client: {e}"))?;
        let format = section.webhook_format;
        let (queue, mut acts) = unbounded_channel::<Act>();
        tokio::spawn(async move {
            while let Some(act) = acts.recv().await {
                let Some((to, body)) = request(format, &url, &act, &about) else {
                    continue;
                };
                let mut post = http.post(&to).json(&body);
                if let Some(token) = &token {
                    post = post.bearer_auth(token);
                }
                match post.send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), "the [notify] webhook refused a call")
                    }
                    Err(e) => tracing::warn!("the [notify] webhook could not be reached: {e}"),
                }
            }
        });
        Ok(Some(Webhook { queue }))
    }

    /// Send `act` after those before it.
    pub fn send(&self, act: &Act) {
        let _ = self.queue.send(act.clone());
    }
}

/// Where `act` is POSTed and with what, in `format`; `None` when the format has no word for
/// it (ntfy cannot take a notification back).
pub fn request(
    format: WebhookFormat,
    url: &str,
    act: &Act,
    about: &About,
) -> Option<(String, Value)> {
    match (format, act) {
        (
            WebhookFormat::Json,
            Act::Call {
                kind,
                tag,
                title,
                body,
            },
        ) => Some((
            url.to_owned(),
            json!({
                "v": 1,
                "event": "call",
                "session": about.session,
                "session_title": about.title,
                "kind": kind,
                "tag": tag,
                "title": title,
                "body": body,
                "url": about.page,
            }),
        )),
        (WebhookFormat::Json, Act::Withdraw { kind, tag }) => Some((
            url.to_owned(),
            json!({
                "v": 1,
                "event": "withdraw",
                "session": about.session,
                "kind": kind,
                "tag": tag,
            }),
        )),
        (
            WebhookFormat::Ntfy,
            Act::Call {
                kind, title, body, ..
            },
        ) => {
            let (server, topic) = ntfy_topic(url)?;
            // ntfy's scale: 3 is the default, 4 high (a person is waited for).
            let priority = match kind {
                PushKind::Permission | PushKind::Question => 4,
                PushKind::Done | PushKind::Offline => 3,
            };
            Some((
                server,
                json!({
                    "topic": topic,
                    "title": format!("{title} · {}", about.title),
                    "message": body,
                    "priority": priority,
                    "click": about.page,
                    "tags": ["tether"],
                }),
            ))
        }
        (WebhookFormat::Ntfy, Act::Withdraw { .. }) => None,
        // The webhook gets every call already; a ring is for this terminal only.
        (_, Act::Ring { .. }) => None,
    }
}

/// An ntfy topic's URL as its server (where JSON is published) and its topic: the last path
/// segment, 1–64 of `[A-Za-z0-9_-]` as ntfy allows.
pub fn ntfy_topic(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let path = path.trim_end_matches('/');
    if host.is_empty() || path.contains(['?', '#']) {
        return None;
    }
    let (prefix, topic) = match path.rsplit_once('/') {
        Some((prefix, topic)) => (format!("/{prefix}"), topic),
        None => (String::new(), path),
    };
    let valid = (1..=64).contains(&topic.len())
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return None;
    }
    let scheme = if url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    Some((format!("{scheme}://{host}{prefix}/"), topic.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about() -> About {
        About {
            session: "session_1".into(),
            title: "tether in app".into(),
            page: "https://relay.example/code/session_1".into(),
        }
    }

    fn call() -> Act {
        Act::Call {
            kind: PushKind::Permission,
            tag: "r1".into(),
            title: "Allow Bash?".into(),
            body: "ls".into(),
        }
    }

    #[test]
    fn json_says_calls_and_withdrawals_with_the_page_but_no_key() {
        let (to, body) = request(
            WebhookFormat::Json,
            "https://hook.example/t",
            &call(),
            &about(),
        )
        .unwrap();
        assert_eq!(to, "https://hook.example/t");
        assert_eq!(
            body,
            json!({"v": 1, "event": "call", "session": "session_1", "session_title": "tether in app",
                   "kind": "permission", "tag": "r1", "title": "Allow Bash?", "body": "ls",
                   "url": "https://relay.example/code/session_1"})
        );
        let withdraw = Act::Withdraw {
            kind: PushKind::Permission,
            tag: "r1".into(),
        };
        let (_, body) = request(
            WebhookFormat::Json,
            "https://hook.example/t",
            &withdraw,
            &about(),
        )
        .unwrap();
        assert_eq!(body["event"], "withdraw");
        assert_eq!(body["tag"], "r1");
    }

    #[test]
    fn ntfy_is_published_to_the_server_with_its_topic() {
        let (to, body) = request(
            WebhookFormat::Ntfy,
            "https://ntfy.sh/my-topic_1",
            &call(),
            &about(),
        )
        .unwrap();
        assert_eq!(to, "https://ntfy.sh/");
        assert_eq!(
            body,
            json!({"topic": "my-topic_1", "title": "Allow Bash? · tether in app", "message": "ls",
                   "priority": 4, "click": "https://relay.example/code/session_1", "tags": ["tether"]})
        );
        let withdraw = Act::Withdraw {
            kind: PushKind::Permission,
            tag: "r1".into(),
        };
        assert_eq!(
            request(
                WebhookFormat::Ntfy,
                "https://ntfy.sh/t",
                &withdraw,
                &about()
            ),
            None
        );
    }

    #[test]
    fn ntfy_topic_urls() {
        assert_eq!(
            ntfy_topic("http://127.0.0.1:8080/ntfy/alerts/"),
            Some(("http://127.0.0.1:8080/ntfy/".into(), "alerts".into()))
        );
        for bad in [
            "https://ntfy.sh",
            "https://ntfy.sh/",
            "https://ntfy.sh/a?b",
            "https://ntfy.sh/with space",
            "https:///topic",
            "ftp://ntfy.sh/t",
        ] {
            assert_eq!(ntfy_topic(bad), None, "{bad}");
        }
        assert_eq!(
            ntfy_topic(&format!("https://ntfy.sh/{}", "t".repeat(65))),
            None
        );
    }
}
