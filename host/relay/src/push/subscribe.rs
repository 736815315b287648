//! The checks on a browser's subscription before it is stored, and on a stored one before it is
//! pushed to: everything in it came from a browser.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tether_protocol::push::{MAX_DEVICE_ID, PushKind, Subscribe};

use super::deliver::Target;
use super::endpoint::{EndpointError, Services};

/// Why a subscription is refused; the message is the browser's owner's to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The device id is empty, too long or not plain.
    #[error("The device id must be 1-{MAX_DEVICE_ID} letters, digits, '-' or '_'.")]
    Device,
    /// The endpoint is not one the relay pushes to.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The key is not a point of P-256, uncompressed.
    #[error("keys.p256dh must be an uncompressed P-256 public key, base64url.")]
    Key,
    /// The secret is not 16 bytes.
    #[error("keys.auth must be 16 bytes, base64url.")]
    Auth,
    /// No kind, or one twice.
    #[error("Choose at least one kind of notification, each once.")]
    Kinds,
}

/// A device id: what a browser install calls itself.
pub fn check_device(device: &str) -> Result<(), SubscribeError> {
    let ok = !device.is_empty()
        && device.len() <= MAX_DEVICE_ID
        && device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SubscribeError::Device)
    }
}

/// A subscription fit to store, its kinds in their listed order.
pub fn check(services: &Services, body: &Subscribe) -> Result<Vec<PushKind>, SubscribeError> {
    services.check(&body.endpoint)?;
    key(&body.keys.p256dh)?;
    auth(&body.keys.auth)?;
    check_kinds(&body.kinds)
}

/// The kinds a device asks for, in their listed order: at least one, each once.
pub fn check_kinds(asked: &[PushKind]) -> Result<Vec<PushKind>, SubscribeError> {
    let mut kinds = asked.to_vec();
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() || kinds.len() != asked.len() {
        return Err(SubscribeError::Kinds);
    }
    Ok(kinds)
}

/// Where to push for a stored subscription; checked again, since the operator may have
/// narrowed `--push-service` since it was stored.
pub fn target(
    services: &Services,
    id: i64,
    endpoint: &str,
    p256dh: &str,
    secret: &str,
) -> Result<Target, SubscribeError> {
    Ok(Target {
        id,
        endpoint: services.check(endpoint)?,
        stored: endpoint.to_owned(),
        key: key(p256dh)?,
        auth: auth(secret)?,
    })
}

fn decode(text: &str) -> Option<Vec<u8>> {
    // Browsers give base64url without padding; some libraries pad it.
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn key(text: &str) -> Result<p256::PublicKey, SubscribeError> {
    let bytes = decode(text).ok_or(SubscribeError::Key)?;
    if bytes.len() != 65 || bytes[0] != 4 {
        return Err(SubscribeError::Key);
    }
    p256::PublicKey::from_sec1_bytes(&bytes).map_err(|_| SubscribeError::Key)
}

fn auth(text: &str) -> Result<[u8; 16], SubscribeError> {
    decode(text)
        .and_then(|b| b.try_into().ok())
        .ok_or(SubscribeError::Auth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_protocol::push::SubscriptionKeys;

    fn point(compressed: bool) -> String {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let secret = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
        URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(compressed).as_bytes())
    }

    fn browser_key() -> String {
        point(false)
    }

    fn body(p256dh: &str, auth: &str, kinds: Vec<PushKind>) -> Subscribe {
        Subscribe {
            endpoint: "https://fcm.googleapis.com/fcm/send/x".into(),
            keys: SubscriptionKeys {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
            kinds,
        }
    }

    #[test]
    fn a_browsers_subscription_passes_and_its_kinds_come_back_in_order() {
        let s = Services::default();
        let auth = URL_SAFE_NO_PAD.encode([7u8; 16]);
        let kinds = check(
            &s,
            &body(
                &browser_key(),
                &auth,
                vec![PushKind::Done, PushKind::Permission],
            ),
        )
        .unwrap();
        assert_eq!(kinds, [PushKind::Permission, PushKind::Done]);
        let padded = format!("{auth}==");
        assert!(check(&s, &body(&browser_key(), &padded, vec![PushKind::Done])).is_ok());
    }

    #[test]
    fn hostile_subscriptions_are_refused_with_the_field_named() {
        let s = Services::default();
        let auth = URL_SAFE_NO_PAD.encode([7u8; 16]);
        let key = browser_key();
        let not_on_curve = URL_SAFE_NO_PAD.encode([4u8; 65]);
        let compressed = point(true);
        for bad in ["", "!!", &not_on_curve, &compressed, &auth] {
            assert_eq!(
                check(&s, &body(bad, &auth, vec![PushKind::Done])),
                Err(SubscribeError::Key),
                "{bad}"
            );
        }
        for bad in [
            "",
            &URL_SAFE_NO_PAD.encode([1u8; 15]),
            &URL_SAFE_NO_PAD.encode([1u8; 17]),
            "%%",
        ] {
            assert_eq!(
                check(&s, &body(&key, bad, vec![PushKind::Done])),
                Err(SubscribeError::Auth),
                "{bad}"
            );
        }
        assert_eq!(
            check(&s, &body(&key, &auth, vec![])),
            Err(SubscribeError::Kinds)
        );
        assert_eq!(
            check(&s, &body(&key, &auth, vec![PushKind::Done, PushKind::Done])),
            Err(SubscribeError::Kinds)
        );
        let mut elsewhere = body(&key, &auth, vec![PushKind::Done]);
        elsewhere.endpoint = "https://10.0.0.1/push".into();
        assert!(matches!(
            check(&s, &elsewhere),
            Err(SubscribeError::Endpoint(EndpointError::Unknown(_)))
        ));
    }

    #[test]
    fn device_ids_are_short_and_plain() {
        for ok in ["a", "dev-1_A", &"x".repeat(MAX_DEVICE_ID)] {
            assert!(check_device(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "ä",
            "../x",
            &"x".repeat(MAX_DEVICE_ID + 1),
            "a\n",
        ] {
            assert_eq!(check_device(bad), Err(SubscribeError::Device), "{bad:?}");
        }
    }
}
