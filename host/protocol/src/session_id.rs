//! Session ids. The prefix says which kind of relay minted the id, so that a link can never be
//! mistaken for a session on another kind of relay (a staging id pasted into production, say).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which kind of relay a session lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayKind {
    /// A hosted relay (`tether relay serve`): `session_<uuid>`.
    Production,
    /// A hosted relay started with `--staging`: `session_staging_<uuid>`.
    Staging,
    /// The relay embedded in `tether --remote`: `session_local_<uuid>`.
    Local,
}

impl RelayKind {
    fn prefix(self) -> &'static str {
        match self {
            RelayKind::Production => "session_",
            RelayKind::Staging => "session_staging_",
            RelayKind::Local => "session_local_",
        }
    }
}

/// A validated session id. Only ids of the three documented shapes can be constructed, so a
/// handler holding a `SessionId` never has to re-check what it got from a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

/// Why a string is not a session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a session id (expected session_<uuid>, session_staging_<uuid> or session_local_<uuid>)"
)]
pub struct BadSessionId(pub String);

impl SessionId {
    /// A fresh random id for a relay of `kind`.
    pub fn new(kind: RelayKind) -> Self {
        Self::from_parts(kind, Uuid::new_v4())
    }

    /// The id for `uuid` on a relay of `kind`: how [`SessionId::new`] builds one.
    pub fn from_parts(kind: RelayKind, uuid: Uuid) -> Self {
        SessionId(format!("{}{}", kind.prefix(), uuid.hyphenated()))
    }

    /// Which kind of relay minted the id, read from its prefix.
    pub fn kind(&self) -> RelayKind {
        // Longest prefixes first: every id starts with `session_`.
        if self.0.starts_with(RelayKind::Staging.prefix()) {
            RelayKind::Staging
        } else if self.0.starts_with(RelayKind::Local.prefix()) {
            RelayKind::Local
        } else {
            RelayKind::Production
        }
    }

    /// The id as it appears in URLs and JSON.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionId {
    type Err = BadSessionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadSessionId(s.chars().take(80).collect());
        let uuid = [RelayKind::Staging, RelayKind::Local, RelayKind::Production]
            .into_iter()
            .find_map(|kind| s.strip_prefix(kind.prefix()))
            .ok_or_else(bad)?;
        // Only the canonical lower-case hyphenated form, so one session has exactly one spelling.
        let parsed = Uuid::try_parse(uuid).map_err(|_| bad())?;
        if parsed.hyphenated().to_string() != uuid {
            return Err(bad());
        }
        Ok(SessionId(s.to_owned()))
    }
}

impl TryFrom<String> for SessionId {
    type Error = BadSessionId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_round_trips_with_its_prefix() {
        for (kind, prefix) in [
            (RelayKind::Production, "session_"),
            (RelayKind::Staging, "session_staging_"),
            (RelayKind::Local, "session_local_"),
        ] {
            let id = SessionId::new(kind);
            assert!(id.as_str().starts_with(prefix), "{id}");
            assert_eq!(id.as_str().len(), prefix.len() + 36);
            let parsed: SessionId = id.as_str().parse().unwrap();
            assert_eq!(parsed, id);
            assert_eq!(parsed.kind(), kind);
        }
    }

    #[test]
    fn hostile_and_malformed_ids_are_refused() {
        let uuid = "0b9f3a5e-8a0e-4c1e-9d51-5b1f0d3e2a11";
        for bad in [
            String::new(),
            "session_".into(),
            uuid.into(),
            format!("sessions_{uuid}"),
            format!("session_{}", uuid.to_uppercase()),
            format!("session_{}", uuid.replace('-', "")),
            format!("session_{uuid}x"),
            format!("session_{uuid}/../x"),
            format!("session_prod_{uuid}"),
            format!(" session_{uuid}"),
            format!("session_{{{uuid}}}"),
            "session_".to_string() + &"a".repeat(10_000),
        ] {
            assert!(bad.parse::<SessionId>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn serde_validates() {
        let ok = format!("\"session_local_{}\"", Uuid::nil().hyphenated());
        let id: SessionId = serde_json::from_str(&ok).unwrap();
        assert_eq!(id.kind(), RelayKind::Local);
        assert!(serde_json::from_str::<SessionId>("\"session_nope\"").is_err());
    }
}
