//! The web client: its static files (`host/relay/web/`, embedded at build time so that the relay
//! still deploys as one binary and needs no build step) and the page that starts it.

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::html::escape;
use crate::state::Shared;

/// The web client's policy: its own script and styles only, no inline anything, connections
/// back to this relay only.
pub const APP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The shell of the app page, with `{{name}}` holes filled by [`app_page`].
pub const APP_HTML: &str = include_str!("../../web/app.html");
pub const APP_JS: &str = include_str!("../../web/app.js");
pub const APP_CSS: &str = include_str!("../../web/app.css");
pub const MANIFEST: &str = include_str!("../../web/manifest.webmanifest");
pub const ICON_SVG: &str = include_str!("../../web/icon.svg");
pub const ICON_192: &[u8] = include_bytes!("../../web/icon-192.png");
pub const ICON_512: &[u8] = include_bytes!("../../web/icon-512.png");

/// How long a browser may keep a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Referenced as `?v=<version>` by the pages: immutable under that URL, revalidated otherwise.
    Versioned,
    /// Always revalidated (cheap with the ETag): the manifest, whose changes should show at once.
    Revalidate,
    /// A day: icons.
    Day,
}

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    pub caching: Caching,
}

pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: APP_JS.as_bytes(),
        caching: Caching::Versioned,
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: APP_CSS.as_bytes(),
        caching: Caching::Versioned,
    },
    // The stylesheet's former name, for pages still cached under it.
    Asset {
        path: "/assets/relay.css",
        content_type: "text/css; charset=utf-8",
        body: APP_CSS.as_bytes(),
        caching: Caching::Versioned,
    },
    Asset {
        path: "/manifest.webmanifest",
        content_type: "application/manifest+json",
        body: MANIFEST.as_bytes(),
        caching: Caching::Revalidate,
    },
    Asset {
        path: "/assets/icon.svg",
        content_type: "image/svg+xml",
        body: ICON_SVG.as_bytes(),
        caching: Caching::Day,
    },
    Asset {
        path: "/assets/icon-192.png",
        content_type: "image/png",
        body: ICON_192,
        caching: Caching::Day,
    },
    Asset {
        path: "/assets/icon-512.png",
        content_type: "image/png",
        body: ICON_512,
        caching: Caching::Day,
    },
];

/// A short content hash per asset (same order as [`ASSETS`]): the `?v=` of its URL and its ETag.
static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| hex::encode(&Sha256::digest(a.body)[..6]))
        .collect()
});

/// The version of the asset served at `path`.
pub fn version(path: &str) -> &'static str {
    ASSETS
        .iter()
        .position(|a| a.path == path)
        .map(|i| VERSIONS[i].as_str())
        .unwrap_or_default()
}

/// The routes of every asset.
pub fn routes(router: Router<Shared>) -> Router<Shared> {
    ASSETS
        .iter()
        .enumerate()
        .fold(router, |router, (i, asset)| {
            router.route(
                asset.path,
                get(
                    move |headers: HeaderMap, Query(q): Query<VersionQuery>| async move {
                        serve(asset, &VERSIONS[i], &headers, q.v.as_deref())
                    },
                ),
            )
        })
}

#[derive(Deserialize)]
pub struct VersionQuery {
    v: Option<String>,
}

fn serve(
    asset: &'static Asset,
    version: &str,
    headers: &HeaderMap,
    asked: Option<&str>,
) -> Response {
    let etag = format!("\"{version}\"");
    let cache = match asset.caching {
        Caching::Versioned if asked == Some(version) => "public, max-age=31536000, immutable",
        Caching::Versioned | Caching::Revalidate => "no-cache",
        Caching::Day => "public, max-age=86400",
    };
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is ASCII"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // An SVG opened on its own is a document: it gets nothing to run.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    response
}

/// Fill the `{{name}}` holes of `template` in one pass, so that a value can never open a hole
/// of its own.
fn fill<'a>(template: &str, value: impl Fn(&str) -> Cow<'a, str>) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(&value(&after[..end]));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// What the app page shows before its script runs.
pub struct AppPage<'a> {
    pub title: &'a str,
    /// `idle`, `running` or `requires_action`.
    pub state: &'a str,
    pub worker_online: bool,
    /// Escaped HTML: the transcript so far, for browsers without scripts.
    pub transcript: &'a str,
}

/// The state as the page words it.
pub fn state_text(state: &str) -> &'static str {
    match state {
        "running" => "running",
        "requires_action" => "waiting for approval",
        _ => "idle",
    }
}

/// `GET /code/{id}` for the session's owner: the web client.
pub fn app_page(page: &AppPage<'_>) -> Response {
    let html = fill(APP_HTML, |key| match key {
        "title" => Cow::Owned(escape(page.title)),
        "state" => Cow::Borrowed(match page.state {
            "running" => "running",
            "requires_action" => "requires_action",
            _ => "idle",
        }),
        "state_text" => Cow::Borrowed(state_text(page.state)),
        "worker" => Cow::Borrowed(if page.worker_online {
            "online"
        } else {
            "offline"
        }),
        "transcript" => Cow::Owned(page.transcript.to_owned()),
        "css_version" => Cow::Borrowed(version("/assets/app.css")),
        "js_version" => Cow::Borrowed(version("/assets/app.js")),
        _ => Cow::Borrowed(""),
    });
    super::html::document(StatusCode::OK, html, APP_CSP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_filled_once() {
        let out = fill("<t>{{title}}</t>{{x}}{{open", |k| match k {
            "title" => Cow::Borrowed("{{x}}"),
            "x" => Cow::Borrowed("X"),
            _ => Cow::Borrowed("?"),
        });
        assert_eq!(out, "<t>{{x}}</t>X{{open");
    }

    #[test]
    fn the_shell_has_every_hole_it_needs() {
        for hole in [
            "{{title}}",
            "{{state}}",
            "{{state_text}}",
            "{{worker}}",
            "{{transcript}}",
            "{{css_version}}",
            "{{js_version}}",
        ] {
            assert!(APP_HTML.contains(hole), "{hole}");
        }
    }

    #[test]
    fn versions_are_content_hashes() {
        assert_eq!(version("/assets/app.js").len(), 12);
        assert_eq!(version("/assets/app.css"), version("/assets/relay.css"));
        assert_ne!(version("/assets/app.js"), version("/assets/app.css"));
        assert_eq!(version("/nope"), "");
    }
}
