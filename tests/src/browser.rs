//! Headless Chromium driven over WebDriver, for the tests and the bench of the web client.
//!
//! Each [`Browser`] starts its own `chromedriver --port=N` (in a process group of its own) and a
//! Chromium with a fresh profile; dropping it kills the group and removes the profile, passed or
//! failed. Only one browser runs at a time in a test process ([`Browser::launch`] waits for the
//! previous one to go): two Chromiums and their tether processes on a two-core machine make
//! timings flaky.
//!
//! Every wait has a deadline ([`Browser::timeout`]); when one passes, the test fails with what it
//! waited for, the page's URL, what `#messages` (or the body) said, the browser's console, and a
//! screenshot saved as `<target>/artifacts/<test>-failure.png`.
//!
//! Chromium and chromedriver are the Debian packages `chromium` and `chromium-driver`
//! (`.ci/run` installs them). Without them a test fails when `CI=true`, and is skipped with a
//! note otherwise. `TETHER_E2E_CHROMIUM` and `TETHER_E2E_CHROMEDRIVER` name other executables.

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::artifacts_dir;
use crate::process::free_port;

/// How long a browser test waits for each thing it expects to see.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(20);

/// The Enter key, for [`Browser::type_into`] and [`Element::send_keys`].
pub const ENTER: &str = "\u{e007}";
/// Shift down, Enter, every modifier up.
pub const SHIFT_ENTER: &str = "\u{e008}\u{e007}\u{e000}";

/// One browser at a time in a test process.
static SLOTS: Semaphore = Semaphore::const_new(1);

fn executable(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The Chromium executable: `TETHER_E2E_CHROMIUM` or `/usr/bin/chromium`.
pub fn chromium() -> PathBuf {
    executable("TETHER_E2E_CHROMIUM", "/usr/bin/chromium")
}

/// The chromedriver executable: `TETHER_E2E_CHROMEDRIVER` or `/usr/bin/chromedriver`.
pub fn chromedriver() -> PathBuf {
    executable("TETHER_E2E_CHROMEDRIVER", "/usr/bin/chromedriver")
}

/// Why no browser can run here, if none can.
pub fn unavailable() -> Option<String> {
    let missing: Vec<String> = [chromium(), chromedriver()]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not found: install the Debian packages `chromium` and `chromium-driver` \
             (`bash .ci/run` does)",
            missing.join(" and ")
        )
    })
}

/// Whether this runs in CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The options of a [`Browser`].
#[derive(Clone, Debug)]
pub struct Options {
    /// The window's size, `--window-size=W,H` (in headless mode, the viewport's).
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// A phone: ChromeDriver's mobile emulation with this device pixel ratio, a viewport of
    /// exactly `width`×`height` (a desktop window cannot be narrower than about 500 pixels),
    /// touch, and the page's `<meta name="viewport">` honoured.
    pub phone: Option<f64>,
    /// More Chromium flags, after the ones every test gets (e.g. which certificate to trust).
    pub args: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            width: 1200,
            height: 900,
            phone: None,
            args: Vec::new(),
        }
    }
}

impl Options {
    /// A phone of `width`×`height` CSS pixels at `pixel_ratio`.
    pub fn phone(width: u32, height: u32, pixel_ratio: f64) -> Options {
        Options {
            width,
            height,
            phone: Some(pixel_ratio),
            args: Vec::new(),
        }
    }
}

/// A headless Chromium, its chromedriver, its profile; see the module documentation.
pub struct Browser {
    client: Client,
    name: String,
    driver: Child,
    profile: tempfile::TempDir,
    /// How long each wait may take.
    pub timeout: Duration,
    _slot: SemaphorePermit<'static>,
}

/// What went wrong starting a browser.
#[derive(Debug)]
pub struct LaunchError(String);

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Browser {
    /// A browser for the test `name` (which names its screenshots), or `None` with a note on
    /// stderr when Chromium is not installed and this is not CI. In CI a missing Chromium, like
    /// any failure to start it, fails the test.
    pub async fn launch(name: &str, options: Options) -> Option<Browser> {
        if let Some(why) = unavailable() {
            if in_ci() {
                panic!("{name}: the browser tests need Chromium: {why}");
            }
            eprintln!("note: skipping {name}: {why}");
            return None;
        }
        match Browser::start(name, options).await {
            Ok(browser) => Some(browser),
            Err(e) => panic!("{name}: cannot start the browser: {e}"),
        }
    }

    /// Starts chromedriver and a Chromium session (waiting for the browser slot first).
    pub async fn start(name: &str, options: Options) -> Result<Browser, LaunchError> {
        let slot = SLOTS
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let profile = tempfile::Builder::new()
            .prefix("tether-chromium-")
            .tempdir()
            .map_err(|e| LaunchError(format!("creating a profile directory: {e}")))?;
        let log = profile.path().join("chromedriver.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| LaunchError(format!("creating {}: {e}", log.display())))?;
        let port = free_port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(
                log_file
                    .try_clone()
                    .map_err(|e| LaunchError(e.to_string()))?,
            )
            .stderr(log_file)
            // A group of its own, so that dropping the browser kills Chromium's processes too.
            .process_group(0)
            .spawn()
            .map_err(|e| LaunchError(format!("starting {}: {e}", chromedriver().display())))?;
        let mut browser_driver = DriverGuard(Some(driver));
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

        let deadline = Instant::now() + Duration::from_secs(15);
        while !driver_ready(port) {
            if let Some(status) = browser_driver.child().try_wait().ok().flatten() {
                return Err(LaunchError(format!(
                    "chromedriver exited with {status}:\n{}",
                    read_log()
                )));
            }
            if Instant::now() >= deadline {
                return Err(LaunchError(format!(
                    "chromedriver did not answer on port {port} within 15 s:\n{}",
                    read_log()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!(
                "--user-data-dir={}",
                profile.path().join("user-data").display()
            ),
            format!("--window-size={},{}", options.width, options.height),
        ];
        args.extend(options.args.iter().cloned());
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        let mut chrome = json!({ "binary": chromium(), "args": args });
        if let Some(ratio) = options.phone {
            chrome["mobileEmulation"] = json!({
                "deviceMetrics": {
                    "width": options.width,
                    "height": options.height,
                    "pixelRatio": ratio,
                    "mobile": true,
                    "touch": true,
                },
            });
        }
        caps.insert("goog:chromeOptions".into(), chrome);
        // A page's dialog waits for the test to answer it (`answer_dialog`); chromedriver's
        // default would dismiss it at the next command.
        caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        caps.insert("pageLoadStrategy".into(), json!("normal"));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| {
                LaunchError(format!(
                    "creating a Chromium session: {e}\n--- chromedriver log ---\n{}",
                    read_log()
                ))
            })?;
        let driver = browser_driver.0.take().expect("still there");
        Ok(Browser {
            client,
            name: name.to_owned(),
            driver,
            profile,
            timeout: BROWSER_TIMEOUT,
            _slot: slot,
        })
    }

    /// The WebDriver client, for what these helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The test's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            self.fail::<()>(&format!("navigating to {url}: {e}")).await;
        }
    }

    /// Gives the browser a login cookie for `origin` (`http://host:port`): `cookie` is a
    /// `Cookie` header value, `name=value`, such as [`crate::http::browser_login`] returns.
    pub async fn use_cookie(&self, origin: &str, cookie: &str) {
        // A cookie can only be set for the site the browser is on.
        self.goto(&format!("{origin}/healthz")).await;
        let (name, value) = cookie
            .split_once('=')
            .unwrap_or_else(|| panic!("not a cookie: {cookie}"));
        // chromedriver refuses a cookie without a domain (fantoccini sends `null`).
        let host = origin.split("://").nth(1).unwrap_or(origin);
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h).to_owned();
        let mut c = fantoccini::cookies::Cookie::new(name.to_owned(), value.to_owned());
        c.set_domain(host);
        c.set_path("/");
        c.set_http_only(true);
        // As the relay sets it (fantoccini's default, `None`, needs `Secure`).
        c.set_same_site(cookie::SameSite::Strict);
        if let Err(e) = self.client.add_cookie(c).await {
            self.fail::<()>(&format!("setting the cookie {name}: {e}"))
                .await;
        }
    }

    /// Waits for the page's `confirm`/`alert` dialog, answers it (`accept` or dismiss) and
    /// returns its text.
    pub async fn answer_dialog(&self, accept: bool) -> String {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Ok(text) = self.client.get_alert_text().await {
                let answered = if accept {
                    self.client.accept_alert().await
                } else {
                    self.client.dismiss_alert().await
                };
                if let Err(e) = answered {
                    self.fail::<()>(&format!("answering the dialog {text:?}: {e}"))
                        .await;
                }
                return text;
            }
            if Instant::now() >= deadline {
                return self.fail("waiting for a dialog").await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        if let Err(e) = self.client.refresh().await {
            self.fail::<()>(&format!("reloading: {e}")).await;
        }
    }

    /// The address bar.
    pub async fn url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => self.fail(&format!("reading the URL: {e}")).await,
        }
    }

    /// Runs `script` (a function body: `return …`; `arguments[i]` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        match self.client.execute(script, args).await {
            Ok(v) => v,
            Err(e) => self.fail(&format!("running {script:?}: {e}")).await,
        }
    }

    /// Runs `script` until it returns something truthy (not `null`, `undefined`, `false`, `0` or
    /// `""`), and returns that. Script errors count as "not yet" (the page may be navigating).
    pub async fn wait_js(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + self.timeout;
        let mut last_error: Option<String>;
        loop {
            match self.client.execute(script, args.clone()).await {
                Ok(v) if truthy(&v) => return v,
                Ok(_) => last_error = None,
                Err(e) => last_error = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                let error = last_error.map_or(String::new(), |e| format!(" (last error: {e})"));
                self.fail::<()>(&format!(
                    "timed out after {:?} waiting for {what}{error}",
                    self.timeout
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// Waits for an element matching `selector`.
    pub async fn wait_for(&self, selector: &str) -> Element {
        self.wait_js(
            &format!("an element {selector:?}"),
            "return document.querySelector(arguments[0]) !== null",
            vec![json!(selector)],
        )
        .await;
        self.find(selector).await
    }

    /// Waits until no element matches `selector`.
    pub async fn wait_gone(&self, selector: &str) {
        self.wait_js(
            &format!("no element {selector:?}"),
            "return document.querySelector(arguments[0]) === null",
            vec![json!(selector)],
        )
        .await;
    }

    /// The first element matching `selector` (which must exist).
    pub async fn find(&self, selector: &str) -> Element {
        match self.client.find(Locator::Css(selector)).await {
            Ok(e) => e,
            Err(e) => self.fail(&format!("finding {selector:?}: {e}")).await,
        }
    }

    /// How many elements match `selector`.
    pub async fn count(&self, selector: &str) -> usize {
        let n = self
            .js(
                "return document.querySelectorAll(arguments[0]).length",
                vec![json!(selector)],
            )
            .await;
        n.as_u64().unwrap_or(0) as usize
    }

    /// The `textContent` of the first element matching `selector` (`None` if there is none).
    pub async fn text(&self, selector: &str) -> Option<String> {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
                vec![json!(selector)],
            )
            .await;
        v.as_str().map(str::to_owned)
    }

    /// An attribute of the first element matching `selector` (`None` if either is missing).
    pub async fn attr(&self, selector: &str, name: &str) -> Option<String> {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null",
                vec![json!(selector), json!(name)],
            )
            .await;
        v.as_str().map(str::to_owned)
    }

    /// Waits until the first element matching `selector` has `textContent` (trimmed) `text`.
    pub async fn wait_text(&self, selector: &str, text: &str) {
        self.wait_js(
            &format!("{selector:?} to say {text:?}"),
            "const e = document.querySelector(arguments[0]); return !!e && e.textContent.trim() === arguments[1]",
            vec![json!(selector), json!(text)],
        )
        .await;
    }

    /// Waits until the first element matching `selector` has attribute `name` = `value`.
    pub async fn wait_attr(&self, selector: &str, name: &str, value: &str) {
        self.wait_js(
            &format!("{selector:?} to have {name}={value:?}"),
            "const e = document.querySelector(arguments[0]); return !!e && e.getAttribute(arguments[1]) === arguments[2]",
            vec![json!(selector), json!(name), json!(value)],
        )
        .await;
    }

    /// Clicks the first element matching `selector` (waiting for it).
    pub async fn click(&self, selector: &str) {
        let e = self.wait_for(selector).await;
        if let Err(err) = e.click().await {
            self.fail::<()>(&format!("clicking {selector:?}: {err}"))
                .await;
        }
    }

    /// Types `text` into the element matching `selector` as keystrokes: `\n` becomes
    /// Shift+Enter (a new line in the composer), and [`ENTER`] may be given as is.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let e = self.wait_for(selector).await;
        let keys = text.replace('\n', SHIFT_ENTER);
        if let Err(err) = e.send_keys(&keys).await {
            self.fail::<()>(&format!("typing into {selector:?}: {err}"))
                .await;
        }
    }

    /// Types `text` into `#input` and presses Enter.
    pub async fn say(&self, text: &str) {
        self.type_into("#input", &format!("{text}{ENTER}")).await;
    }

    /// Waits for two animation frames: whatever the page renders in its next frame is there.
    pub async fn settle(&self) {
        self.js(
            "return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
            vec![],
        )
        .await;
    }

    /// `window.tetherStats`, as JSON.
    pub async fn stats(&self) -> Value {
        self.js("return window.tetherStats ?? null", vec![]).await
    }

    /// Saves a screenshot of the viewport as `<target>/artifacts/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        match self.try_screenshot(name).await {
            Ok(path) => path,
            Err(e) => self.fail(&format!("taking a screenshot: {e}")).await,
        }
    }

    async fn try_screenshot(&self, name: &str) -> Result<PathBuf, String> {
        let png = self.client.screenshot().await.map_err(|e| e.to_string())?;
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    /// The browser's console since the last call (each entry `LEVEL message`): page errors,
    /// failed loads, Content-Security-Policy violations, `console.*` calls.
    pub async fn console(&self) -> Vec<String> {
        let Ok(v) = self.client.issue_cmd(BrowserLog).await else {
            return Vec::new();
        };
        v.as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} {}",
                    e["level"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// A Chrome DevTools Protocol command through chromedriver (`goog/cdp/execute`), such as
    /// `Network.clearBrowserCache`.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let command = Cdp {
            cmd: cmd.to_owned(),
            params,
        };
        match self.client.issue_cmd(command).await {
            Ok(v) => v,
            Err(e) => self.fail(&format!("CDP {cmd}: {e}")).await,
        }
    }

    /// What the page shows, for failure messages.
    pub async fn dump(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map_or_else(|e| format!("? ({e})"), |u| u.to_string());
        let shown = self
            .client
            .execute(
                "const m = document.querySelector('#messages'); \
                 const head = ['#state', '#worker', '#connection'].map(s => { const e = document.querySelector(s); \
                   return e ? s + '=' + JSON.stringify(e.textContent.trim()) + (e.dataset.state ? '[' + e.dataset.state + ']' : '') : null }).filter(Boolean).join(' '); \
                 return head + '\\n' + (m ? m.outerHTML : document.body ? document.body.innerText : '(no body)')",
                vec![],
            )
            .await
            .map_or_else(|e| format!("? ({e})"), |v| v.as_str().unwrap_or("").to_owned());
        let shown = if shown.len() > 12_000 {
            let mut cut = shown.len() - 12_000;
            while !shown.is_char_boundary(cut) {
                cut += 1;
            }
            format!("…{}", &shown[cut..])
        } else {
            shown
        };
        let console = self.console().await.join("\n");
        format!("URL: {url}\n--- page ---\n{shown}\n--- console ---\n{console}\n---")
    }

    /// Fails the test with `message`, what the page shows and a screenshot.
    pub async fn fail<T>(&self, message: &str) -> T {
        let shot = match self.try_screenshot(&format!("{}-failure", self.name)).await {
            Ok(path) => format!("screenshot: {}", path.display()),
            Err(e) => format!("no screenshot: {e}"),
        };
        let dump = self.dump().await;
        panic!("{}: {message}\n{dump}\n{shot}", self.name);
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.clone().close()).await;
    }

    /// The profile directory (`user-data/` inside it is Chromium's).
    pub fn profile(&self) -> &Path {
        self.profile.path()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Kills chromedriver's process group (chromedriver and every Chromium process) and reaps it.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills chromedriver if starting the session fails half way.
struct DriverGuard(Option<Child>);

impl DriverGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("still there")
    }
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            kill_group(&mut child);
        }
    }
}

/// Whether chromedriver on `port` answers `/status` with `ready`.
fn driver_ready(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response.contains("\"ready\":true")
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// ChromeDriver's `POST /session/{id}/se/log {type: "browser"}`: the console entries since the
/// last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// ChromeDriver's `POST /session/{id}/goog/cdp/execute {cmd, params}`.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness_is_javascript_s() {
        for v in [json!(null), json!(false), json!(0), json!("")] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [json!(true), json!(1), json!("x"), json!([]), json!({})] {
            assert!(truthy(&v), "{v}");
        }
    }
}
