//! The web client as the relay serves it: who gets the page, under which policy, the static files
//! with their types and caching, the weight of a first load, and what its script may not do.
//! (What the page does in a browser is tested in real Chromium by the end-to-end tests.)

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const BUDGET: usize = 150 * 1024;

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// A relay with alice logged in on the CLI and in a browser, owning one session.
async fn alice(title: &str) -> (TestRelay, String, String, String) {
    let relay = TestRelay::start().await;
    relay.add_user("alice");
    let tokens = relay.cli_login("alice").await;
    let created = relay
        .post("/v1/code/sessions")
        .bearer_auth(&tokens.access_token)
        .json(&json!({ "title": title }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = relay.browser_login("alice").await;
    (relay, tokens.access_token, id, cookie)
}

async fn get(relay: &TestRelay, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = relay.get(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_app_is_served_to_its_owner_under_a_strict_policy() {
    let (relay, _access, id, cookie) = alice("<script>alert(1)</script> & co").await;
    let page = get(&relay, &format!("/code/{id}"), Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-store");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    let csp = header(&page, "content-security-policy").to_owned();
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    for expected in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(directives.contains(&expected), "{expected} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    let script_src = directives
        .iter()
        .find(|d| d.starts_with("script-src"))
        .unwrap();
    assert_eq!(*script_src, "script-src 'self'");

    let body = page.text().await.unwrap();
    // The title is escaped wherever it appears; the only script is the app's own file.
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{body}"
    );
    assert!(!body.contains("<script>"), "{body}");
    // The sealing code first, then what uses it: the notifications' and the app.
    assert_eq!(body.matches("<script").count(), 3, "{body}");
    let seal = body
        .find("<script src=\"/assets/seal.js?v=")
        .expect("seal.js");
    let notify = body
        .find("<script src=\"/assets/notify.js?v=")
        .expect("notify.js");
    let app = body
        .find("<script src=\"/assets/app.js?v=")
        .expect("app.js");
    assert!(seal < notify && notify < app, "{body}");
    // Nothing inline for the policy to refuse: no style attributes, no handlers.
    assert!(!body.contains("style="), "{body}");
    let handler = body.match_indices(" on").any(|(at, _)| {
        let name: String = body[at + 3..]
            .chars()
            .take_while(char::is_ascii_lowercase)
            .collect();
        !name.is_empty() && body[at + 3 + name.len()..].starts_with('=')
    });
    assert!(!handler, "an inline event handler in {body}");
    // The DOM contract the browser tests and the script rely on.
    for id in [
        "messages",
        "composer",
        "input",
        "send",
        "stop",
        "state",
        "worker",
        "connection",
        "completions",
        "title",
    ] {
        assert!(body.contains(&format!("id=\"{id}\"")), "#{id} in {body}");
    }
    assert!(body.contains("<span id=\"state\" class=\"pill\" data-value=\"idle\">idle</span>"));
    assert!(body.contains("data-value=\"offline\">offline</span>"));
    assert!(body.contains("data-state=\"connecting\""));
    assert!(body.contains("<button id=\"stop\" type=\"button\" disabled"));
    // Installable, themed.
    assert!(body.contains("<link rel=\"manifest\" href=\"/manifest.webmanifest\">"));
    assert!(body.contains("name=\"theme-color\""));
    assert!(body.contains("prefers-color-scheme: dark"));
}

#[tokio::test]
async fn the_app_needs_a_login_and_the_owner() {
    let (relay, _access, id, _cookie) = alice("mine").await;
    let anonymous = get(&relay, &format!("/code/{id}"), None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&anonymous, "location"),
        format!("/login?next=%2Fcode%2F{id}")
    );

    relay.add_user("bob");
    let bob = relay.browser_login("bob").await;
    let theirs = get(&relay, &format!("/code/{id}"), Some(&bob)).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let body = theirs.text().await.unwrap();
    assert!(!body.contains("mine"), "{body}");
    assert!(!body.contains("app.js"), "{body}");
    for unknown in [
        "session_00000000-0000-4000-8000-000000000000",
        "not-a-session",
    ] {
        let r = get(&relay, &format!("/code/{unknown}"), Some(&bob)).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{unknown}");
    }
}

#[tokio::test]
async fn the_page_renders_nothing_of_the_conversation() {
    let (relay, access, id, cookie) = alice("t").await;
    let published = relay
        .publish_client(&access, &id, &[user_message("marker-5be1 hello")])
        .await;
    assert_eq!(published.status(), StatusCode::OK);
    let body = get(&relay, &format!("/code/{id}"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    // The conversation is end-to-end encrypted: only the page's script can read it.
    assert!(!body.contains("marker-5be1"), "{body}");
    let noscript = &body[body.find("<noscript>").unwrap()..body.find("</noscript>").unwrap()];
    assert!(noscript.contains("end-to-end encrypted"), "{noscript}");
    assert!(noscript.contains("needs JavaScript"), "{noscript}");
    // Where the replay stands as the page is made (the script waits for it before resending).
    assert!(body.contains("data-last-seq=\"1\""), "{body}");
}

#[tokio::test]
async fn assets_have_their_types_and_cache_headers() {
    let relay = TestRelay::start().await;
    let page = get(&relay, "/login", None).await.text().await.unwrap();
    for (path, content_type) in [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/seal.js", "text/javascript; charset=utf-8"),
        ("/assets/login.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/relay.css", "text/css; charset=utf-8"),
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/assets/icon.svg", "image/svg+xml"),
        ("/assets/icon-192.png", "image/png"),
        ("/assets/icon-512.png", "image/png"),
    ] {
        // Files need no login.
        let r = get(&relay, path, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&r, "content-type"), content_type, "{path}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        let etag = header(&r, "etag").to_owned();
        let cache = header(&r, "cache-control").to_owned();
        match path {
            "/manifest.webmanifest"
            | "/assets/app.js"
            | "/assets/seal.js"
            | "/assets/login.js"
            | "/assets/app.css"
            | "/assets/relay.css" => {
                assert_eq!(cache, "no-cache", "{path}")
            }
            _ => assert_eq!(cache, "public, max-age=86400", "{path}"),
        }
        assert!(!r.bytes().await.unwrap().is_empty(), "{path}");

        // A second look costs a 304.
        let again = relay
            .get(path)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    // Under the versioned URL that pages use, the stylesheet is immutable; a stale version is
    // not.
    let versioned = page
        .split("href=\"")
        .find_map(|s| s.strip_prefix("/assets/app.css?v="))
        .and_then(|s| s.split('"').next())
        .expect("the page links the versioned stylesheet")
        .to_owned();
    let css = get(&relay, &format!("/assets/app.css?v={versioned}"), None).await;
    assert_eq!(
        header(&css, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&css, "etag"), format!("\"{versioned}\""));
    let stale = get(&relay, "/assets/app.css?v=000000000000", None).await;
    assert_eq!(header(&stale, "cache-control"), "no-cache");
}

#[tokio::test]
async fn a_first_load_weighs_at_most_150_kb() {
    let (relay, access, id, cookie) = alice("weight").await;
    let published = relay
        .publish_client(&access, &id, &[user_message("hello")])
        .await;
    assert_eq!(published.status(), StatusCode::OK);
    let page = get(&relay, &format!("/code/{id}"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    let mut total = page.len();
    let mut files = vec![format!("page {}", page.len())];
    // Everything the page references, and the icons its manifest names.
    let mut paths: Vec<String> = page
        .split(['"', '\''])
        .filter(|s| s.starts_with("/assets/") || s.starts_with("/manifest"))
        .map(str::to_owned)
        .collect();
    paths.extend(["/assets/icon-192.png".into(), "/assets/icon-512.png".into()]);
    paths.sort();
    paths.dedup();
    for path in paths {
        let r = get(&relay, &path, Some(&cookie)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let size = r.bytes().await.unwrap().len();
        files.push(format!("{path} {size}"));
        total += size;
    }
    println!("first load: {total} bytes ({})", files.join(", "));
    assert!(files.iter().any(|f| f.starts_with("/assets/app.js")));
    assert!(files.iter().any(|f| f.starts_with("/manifest.webmanifest")));
    assert!(total <= BUDGET, "{total} bytes: {files:?}");
}

#[tokio::test]
async fn the_script_never_turns_strings_into_markup_or_code() {
    let relay = TestRelay::start().await;
    for script in [
        "/assets/seal.js",
        "/assets/login.js",
        "/assets/notify.js",
        "/sw.js",
    ] {
        let js = get(&relay, script, None).await.text().await.unwrap();
        assert!(js.contains("'use strict'"), "{script}");
        for forbidden in [
            "innerHTML",
            "eval(",
            "new Function",
            "Function(",
            "document.write",
        ] {
            assert!(!js.contains(forbidden), "{script} uses {forbidden}");
        }
    }
    let js = get(&relay, "/assets/app.js", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(js.len() > 1000);
    for forbidden in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "Function(",
        "createContextualFragment",
        "DOMParser",
        "srcdoc",
        "javascript:",
        "setAttribute('on",
        "setAttribute(\"on",
        "setAttribute('style",
        "setAttribute('href",
    ] {
        assert!(!js.contains(forbidden), "app.js uses {forbidden}");
    }
    // Timers are given functions, never strings to evaluate.
    for timer in ["setTimeout(", "setInterval("] {
        for (at, _) in js.match_indices(timer) {
            let next = js[at + timer.len()..].trim_start();
            assert!(
                !next.starts_with(['"', '\'', '`']),
                "{timer} with a string at {at}"
            );
        }
    }
    // Links are made only from URLs that passed the scheme check, and open without an opener.
    assert!(js.contains("/^(https?:\\/\\/|mailto:)/i"));
    assert!(js.contains("rel: 'noopener noreferrer'"));
}

#[tokio::test]
async fn the_manifest_makes_the_app_installable() {
    let relay = TestRelay::start().await;
    let manifest: Value = get(&relay, "/manifest.webmanifest", None)
        .await
        .json()
        .await
        .expect("the manifest is JSON");
    assert_eq!(manifest["name"], "tether");
    assert!(manifest["short_name"].is_string());
    assert_eq!(manifest["display"], "standalone");
    let start = manifest["start_url"].as_str().unwrap();
    assert!(start.starts_with('/'), "{start}");
    assert_eq!(
        get(&relay, start, None).await.status(),
        StatusCode::SEE_OTHER
    );
    let icons = manifest["icons"].as_array().unwrap();
    for size in [192u32, 512] {
        let icon = icons
            .iter()
            .find(|i| i["sizes"] == format!("{size}x{size}"))
            .unwrap_or_else(|| panic!("no {size} icon"));
        assert_eq!(icon["type"], "image/png");
        let r = get(&relay, icon["src"].as_str().unwrap(), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let png = r.bytes().await.unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, right after the chunk's length and type.
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (size, size));
        assert!(png.len() < 16 * 1024, "{size}: {} bytes", png.len());
    }
}

#[tokio::test]
async fn every_page_links_the_manifest_and_follows_the_system_theme() {
    let (relay, _access, _id, cookie) = alice("t").await;
    for (path, cookie) in [("/login", None), ("/code", Some(cookie.as_str()))] {
        let r = get(&relay, path, cookie).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = header(&r, "content-security-policy").to_owned();
        assert!(csp.contains("manifest-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let body = r.text().await.unwrap();
        assert!(body.contains("rel=\"manifest\""), "{path}");
        assert!(body.contains("name=\"theme-color\""), "{path}");
        assert!(body.contains("/assets/app.css?v="), "{path}");
        // The login form runs one script of the relay's own (it keeps the link's fragment);
        // other pages none.
        let scripts = if path == "/login" { 1 } else { 0 };
        assert_eq!(body.matches("<script").count(), scripts, "{path}: {body}");
        if path == "/login" {
            assert!(body.contains("<script src=\"/assets/login.js?v="), "{body}");
            assert!(csp.contains("script-src 'self'"), "{csp}");
        } else {
            assert!(!csp.contains("script-src"), "{path}: {csp}");
        }
    }
    let css = get(&relay, "/assets/app.css", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(css.contains("@media (prefers-color-scheme: dark)"));
}

#[tokio::test]
async fn the_sessions_list_shows_state_and_presence() {
    let (relay, _access, id, cookie) = alice("<b>bold</b> title").await;
    let body = get(&relay, "/code", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains(&format!("<a href=\"/code/{id}\">")), "{body}");
    assert!(body.contains("&lt;b&gt;bold&lt;/b&gt; title"), "{body}");
    assert!(body.contains("data-value=\"idle\">idle</span>"), "{body}");
    assert!(body.contains("terminal offline"), "{body}");
}
