//! The device login helper and the typed API calls, against a real relay.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use tether_bridge::{ApiError, LoginError, PollError, login};
use tether_relay::users;

/// Sleep until the wall clock's fraction of a second is `fraction`.
async fn at_fraction(fraction: f64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .fract();
    let wait = if now <= fraction {
        fraction - now
    } else {
        1.0 - now + fraction
    };
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
}

/// The whole login: device code, polling (including a `slow_down`), approval in the browser,
/// trusted-device enrolment; the credentials then work for everything the CLI does.
///
/// The relay counts polls in whole seconds. The login starts at x.30 and the helper first polls
/// one interval (1 s) later, at (x+1).30; the test polls at (x+1).05, in the same second, so the
/// helper's poll comes too soon and gets `slow_down`. It must then wait 1 + 5 s: a helper that
/// ignored `slow_down` would be told to slow down again and again, and never log in.
#[tokio::test]
async fn login_slows_down_when_told_and_enrols_a_device() {
    let relay = TestRelay::start().await;
    users::add(&relay.store, "ada", PASSWORD).unwrap();
    let url = relay.url.clone();
    let (first_poll, polled) = tokio::sync::oneshot::channel();
    let mut first_poll = Some(first_poll);
    let mut codes = Vec::new();
    at_fraction(0.30).await;
    let started = Instant::now();
    let login = login(&relay.url, "ada's laptop", |code| {
        codes.push(code.clone());
        let (code, url, reply) = (code.clone(), url.clone(), first_poll.take().unwrap());
        tokio::spawn(async move {
            at_fraction(0.05).await;
            let api = tether_bridge::Api::new(&url).unwrap();
            let _ = reply.send(api.poll_token(&code.device_code).await.map(drop));
            let browser = TestRelay::browser(&url);
            let cookie = browser.browser_login("ada").await;
            browser.decide(&cookie, &code.user_code, "approve").await;
        });
    });
    let credentials = tokio::time::timeout(Duration::from_secs(20), login)
        .await
        .expect("the login finishes")
        .unwrap();
    let took = started.elapsed();
    assert_eq!(polled.await.unwrap(), Err(PollError::Pending));
    assert!(
        took >= Duration::from_secs(6),
        "slowed down by 5 s: took {took:?}"
    );
    assert_eq!(codes.len(), 1);
    assert!(
        codes[0]
            .verification_uri_complete
            .contains(&codes[0].user_code)
    );

    assert_eq!(credentials.server, relay.url);
    let now = unix_now();
    assert!(credentials.access_expires_at > now + 3000);
    let api = relay.api();
    let devices = api.list_devices(&credentials.access_token).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(Some(&devices[0].device_id), credentials.device_id.as_ref());
    assert_eq!(devices[0].display_name, "ada's laptop");
    let session = relay.session(&credentials).await;
    api.bridge(
        &credentials.access_token,
        credentials.device_token.as_deref(),
        &session,
    )
    .await
    .expect("the trusted device can register workers");

    // The credentials survive a round trip through the CLI's file.
    let saved = serde_json::to_string(&credentials).unwrap();
    assert_eq!(
        serde_json::from_str::<tether_bridge::Credentials>(&saved).unwrap(),
        credentials
    );
}

#[tokio::test]
async fn a_denied_login_says_so() {
    let relay = TestRelay::start().await;
    users::add(&relay.store, "ada", PASSWORD).unwrap();
    let url = relay.url.clone();
    let result = login(&relay.url, "laptop", |code| {
        let (code, url) = (code.clone(), url.clone());
        tokio::spawn(async move {
            let browser = TestRelay::browser(&url);
            let cookie = browser.browser_login("ada").await;
            browser.decide(&cookie, &code.user_code, "deny").await;
        });
    });
    let result = tokio::time::timeout(Duration::from_secs(20), result)
        .await
        .unwrap();
    assert_eq!(result, Err(LoginError::Denied));
}

#[tokio::test]
async fn a_relay_that_is_not_there_is_a_network_error() {
    let mut relay = TestRelay::start().await;
    let url = relay.url.clone();
    relay.stop().await;
    let result = login(&url, "laptop", |_| panic!("no code without a relay")).await;
    assert!(
        matches!(result, Err(LoginError::Api(ApiError::Network(_)))),
        "{result:?}"
    );
}

/// Every typed call, and the relay's errors as `ApiError::Status` with their type.
#[tokio::test]
async fn typed_calls_and_their_errors() {
    let relay = TestRelay::start().await;
    let (credentials, _) = relay.credentials("ada").await;
    let access = credentials.access_token.as_str();
    let device = credentials.device_token.as_deref();
    let api = relay.api();

    let created = api.create_session(access, Some("typed")).await.unwrap();
    let summary = api.get_session(access, &created.id).await.unwrap();
    assert_eq!(
        (summary.id, summary.title.as_str()),
        (created.id.clone(), "typed")
    );

    let refused = api.bridge(access, None, &created.id).await.unwrap_err();
    assert_eq!(refused.status(), Some(401), "a trusted device is required");
    assert_eq!(refused.kind(), Some("unauthorized"));

    let grant = api.bridge(access, device, &created.id).await.unwrap();
    let event = user_message("typed");
    let published = api
        .publish(
            &grant.worker_jwt,
            &created.id,
            grant.worker_epoch,
            std::slice::from_ref(&event),
        )
        .await
        .unwrap();
    let again = api
        .publish(
            &grant.worker_jwt,
            &created.id,
            grant.worker_epoch,
            std::slice::from_ref(&event),
        )
        .await
        .unwrap();
    assert_eq!(published.events[0].seq, again.events[0].seq);
    assert!(again.events[0].duplicate);
    api.put_state(
        &grant.worker_jwt,
        &created.id,
        grant.worker_epoch,
        tether_protocol::api::WorkerState::Running,
        None,
    )
    .await
    .unwrap();
    api.heartbeat(&grant.worker_jwt, &created.id, grant.worker_epoch, false)
        .await
        .unwrap();

    let newer = api.bridge(access, device, &created.id).await.unwrap();
    assert_eq!(newer.worker_epoch, grant.worker_epoch + 1);
    let stale = api
        .heartbeat(&grant.worker_jwt, &created.id, grant.worker_epoch, false)
        .await
        .unwrap_err();
    assert_eq!(
        (stale.status(), stale.kind()),
        (Some(409), Some("stale_epoch"))
    );

    let refreshed = api.refresh(&credentials.refresh_token).await.unwrap();
    assert_ne!(refreshed.access_token, credentials.access_token);
    let reused = api.refresh(&credentials.refresh_token).await.unwrap_err();
    assert_eq!(
        (reused.status(), reused.kind()),
        (Some(400), Some("invalid_grant"))
    );

    // Reusing a refresh token ended that login; a new one lists and revokes its device, and
    // the login that enrolled the device ends with it.
    let (second, _) = relay.credentials("bea").await;
    let devices = api.list_devices(&second.access_token).await.unwrap();
    api.revoke_device(&second.access_token, &devices[0].device_id)
        .await
        .unwrap();
    let gone = api.list_devices(&second.access_token).await.unwrap_err();
    assert_eq!(gone.status(), Some(401));

    let unknown = api.poll_token("tthr_dc_nonsense").await.unwrap_err();
    assert!(matches!(
        unknown,
        PollError::Other(ApiError::Status { status: 400, .. })
    ));
}

#[tokio::test]
async fn revoking_the_login_ends_its_access_and_refresh_tokens() {
    let relay = TestRelay::start().await;
    let (credentials, _) = relay.credentials("cy").await;
    let api = relay.api();
    api.revoke_login(&credentials.refresh_token).await.unwrap();
    let access = api
        .list_devices(&credentials.access_token)
        .await
        .unwrap_err();
    assert_eq!(access.status(), Some(401));
    let refresh = api.refresh(&credentials.refresh_token).await.unwrap_err();
    assert_eq!(
        (refresh.status(), refresh.kind()),
        (Some(400), Some("invalid_grant"))
    );
    // Again, or with a token nobody issued: nothing to revoke, and no error.
    api.revoke_login(&credentials.refresh_token).await.unwrap();
    api.revoke_login("tthr_rt_nonsense").await.unwrap();
}
