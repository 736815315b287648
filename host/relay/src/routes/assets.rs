//! The web client's static files (`host/relay/web/`, embedded at build time so that the relay
//! still deploys as one binary and needs no build step), each under a content-hash version.
//! The page that starts the client is [`super::pages::app`].

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::state::Shared;

/// The files themselves, built in.
const APP_JS: &str = include_str!("../../web/app.js");
const SEAL_JS: &str = include_str!("../../web/seal.js");
const NOTIFY_JS: &str = include_str!("../../web/notify.js");
const SW_JS: &str = include_str!("../../web/sw.js");
const LOGIN_JS: &str = include_str!("../../web/login.js");
const APP_CSS: &str = include_str!("../../web/app.css");
const MANIFEST: &str = include_str!("../../web/manifest.webmanifest");
const ICON_SVG: &str = include_str!("../../web/icon.svg");
const ICON_192: &[u8] = include_bytes!("../../web/icon-192.png");
const ICON_512: &[u8] = include_bytes!("../../web/icon-512.png");

/// The audited noble AES-GCM and HKDF-SHA256, exactly as npm publishes them
/// (`web/vendor/update.sh` fetches them, `web/vendor/SHA256SUMS` pins them): what the page
/// uses where browsers withhold WebCrypto (plain HTTP to another machine). Imported as modules
/// by relative path, so they are revalidated rather than versioned.
macro_rules! vendored {
    ($($dir:literal / $file:literal),* $(,)?) => {
        [$(Asset {
            path: concat!("/assets/vendor/", $dir, "/", $file),
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!(concat!("../../web/vendor/", $dir, "/", $file)),
            caching: Caching::Revalidate,
        }),*]
    };
}

/// Every vendored file the page may import.
pub const VENDORED: [Asset; 9] = vendored![
    "noble-ciphers" / "aes.js",
    "noble-ciphers" / "_polyval.js",
    "noble-ciphers" / "utils.js",
    "noble-hashes" / "hkdf.js",
    "noble-hashes" / "hmac.js",
    "noble-hashes" / "sha2.js",
    "noble-hashes" / "_md.js",
    "noble-hashes" / "_u64.js",
    "noble-hashes" / "utils.js",
];

/// What `web/vendor/update.sh` recorded: `<sha256>  <dir>/<file>` per line.
#[cfg(test)]
const VENDORED_SUMS: &str = include_str!("../../web/vendor/SHA256SUMS");

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

/// One embedded file and how it is served.
pub struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The bytes, as built in.
    pub body: &'static [u8],
    /// How long a browser may keep it.
    pub caching: Caching,
}

/// Every file the relay serves from `host/relay/web/` besides the app page's shell.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: APP_JS.as_bytes(),
        caching: Caching::Versioned,
    },
    // End-to-end encryption in the page (docs/protocol.md §4.7), loaded before app.js.
    Asset {
        path: "/assets/seal.js",
        content_type: "text/javascript; charset=utf-8",
        body: SEAL_JS.as_bytes(),
        caching: Caching::Versioned,
    },
    // What the service worker does with a pushed call (docs/protocol.md 5.10), loaded by the
    // page as well.
    Asset {
        path: "/assets/notify.js",
        content_type: "text/javascript; charset=utf-8",
        body: NOTIFY_JS.as_bytes(),
        caching: Caching::Versioned,
    },
    // The service worker, at the root so that its scope covers every session's page; always
    // revalidated, so that an update reaches browsers at once. It imports seal.js and
    // notify.js unversioned, which are then revalidated too.
    Asset {
        path: "/sw.js",
        content_type: "text/javascript; charset=utf-8",
        body: SW_JS.as_bytes(),
        caching: Caching::Revalidate,
    },
    // The login form's one script: it keeps the link's fragment (the session key) across the
    // post.
    Asset {
        path: "/assets/login.js",
        content_type: "text/javascript; charset=utf-8",
        body: LOGIN_JS.as_bytes(),
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

/// Every asset served: [`ASSETS`], then [`VENDORED`].
fn all() -> impl Iterator<Item = &'static Asset> {
    ASSETS.iter().chain(VENDORED.iter())
}

/// A short content hash per asset (same order as [`all`]): the `?v=` of its URL and its ETag.
static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    all()
        .map(|a| hex::encode(&Sha256::digest(a.body)[..6]))
        .collect()
});

/// The version of the asset served at `path`.
pub fn version(path: &str) -> &'static str {
    all()
        .position(|a| a.path == path)
        .map(|i| VERSIONS[i].as_str())
        .unwrap_or_default()
}

/// The routes of every asset.
pub fn routes(router: Router<Shared>) -> Router<Shared> {
    all().enumerate().fold(router, |router, (i, asset)| {
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

/// `?v=`: the version a page asked for.
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
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy(asset.path)),
    );
    response
}

/// The service worker's policy: a worker runs under the policy of its own script's response,
/// so this is what lets it import the client's scripts and post an answer, and nothing else.
pub const SW_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'";

/// The `Content-Security-Policy` an asset is served with. Anything opened on its own (an SVG
/// is a document) gets nothing to run; the service worker gets [`SW_CSP`].
fn policy(path: &str) -> &'static str {
    match path {
        "/sw.js" => SW_CSP,
        _ => "default-src 'none'; frame-ancestors 'none'",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_content_hashes() {
        assert_eq!(version("/assets/app.js").len(), 12);
        assert_eq!(version("/assets/app.css"), version("/assets/relay.css"));
        assert_ne!(version("/assets/app.js"), version("/assets/app.css"));
        assert_ne!(version("/assets/seal.js"), version("/assets/app.js"));
        assert_eq!(version("/assets/login.js").len(), 12);
        assert_eq!(version("/nope"), "");
    }

    #[test]
    fn only_the_service_worker_may_run_scripts_and_connect() {
        assert_eq!(policy("/sw.js"), SW_CSP);
        for asset in all().filter(|a| a.path != "/sw.js") {
            assert_eq!(
                policy(asset.path),
                "default-src 'none'; frame-ancestors 'none'",
                "{}",
                asset.path
            );
        }
        let sw = ASSETS.iter().find(|a| a.path == "/sw.js").unwrap();
        assert_eq!(
            sw.caching,
            Caching::Revalidate,
            "an update reaches browsers at once"
        );
    }

    /// The vendored files are byte for byte what `update.sh` fetched from npm (whose tarball
    /// integrity it checks): an edit to one, by hand or by accident, fails here.
    #[test]
    fn the_vendored_files_are_the_pinned_ones() {
        let pinned: Vec<(&str, &str)> = VENDORED_SUMS
            .lines()
            .filter_map(|l| l.split_once("  "))
            .filter(|(_, f)| f.ends_with(".js"))
            .collect();
        assert_eq!(
            pinned.len(),
            VENDORED.len(),
            "every vendored script is pinned"
        );
        for asset in &VENDORED {
            let file = asset.path.trim_start_matches("/assets/vendor/");
            let (sum, _) = pinned
                .iter()
                .find(|(_, f)| *f == file)
                .unwrap_or_else(|| panic!("{file} is not in SHA256SUMS"));
            assert_eq!(hex::encode(Sha256::digest(asset.body)), *sum, "{file}");
        }
    }
}
