//! A browser: logs in with the password form and approves or denies CLI logins on `/device`.

use reqwest::StatusCode;

use super::PASSWORD;
use super::relay::{TestRelay, http_client};

/// A browser for one relay, by URL only (for tasks that have nothing else).
pub struct Browser {
    url: String,
    http: reqwest::Client,
}

impl Browser {
    /// `POST /login` with [`PASSWORD`] (and our Origin): the `Cookie` header value.
    pub async fn browser_login(&self, name: &str) -> String {
        let response = self
            .http
            .post(format!("{}/login", self.url))
            .header("origin", &self.url)
            .form(&[
                ("username", name),
                ("password", PASSWORD),
                ("next", "/code"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login of {name}");
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_owned()
    }

    /// `POST /device` with the login `cookie`: approve or deny a CLI login, whatever the answer.
    pub async fn post_decision(
        &self,
        cookie: &str,
        user_code: &str,
        decision: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/device", self.url))
            .header("origin", &self.url)
            .header("cookie", cookie)
            .form(&[("user_code", user_code), ("decision", decision)])
            .send()
            .await
            .unwrap()
    }

    /// [`Browser::post_decision`], which must be taken.
    pub async fn decide(&self, cookie: &str, user_code: &str, decision: &str) {
        let response = self.post_decision(cookie, user_code, decision).await;
        assert_eq!(response.status(), StatusCode::OK, "{decision} {user_code}");
    }
}

impl TestRelay {
    /// A browser for the relay at `url`, without the relay.
    pub fn browser(url: &str) -> Browser {
        Browser {
            url: url.to_owned(),
            http: http_client(),
        }
    }

    /// This relay's browser, on the tests' client.
    fn as_browser(&self) -> Browser {
        Browser {
            url: self.url.clone(),
            http: self.http.clone(),
        }
    }

    /// [`Browser::browser_login`] on this relay.
    pub async fn browser_login(&self, name: &str) -> String {
        self.as_browser().browser_login(name).await
    }

    /// [`Browser::post_decision`] on this relay.
    pub async fn post_decision(
        &self,
        cookie: &str,
        user_code: &str,
        decision: &str,
    ) -> reqwest::Response {
        self.as_browser()
            .post_decision(cookie, user_code, decision)
            .await
    }

    /// [`Browser::decide`] on this relay.
    pub async fn decide(&self, cookie: &str, user_code: &str, decision: &str) {
        self.as_browser().decide(cookie, user_code, decision).await
    }
}
