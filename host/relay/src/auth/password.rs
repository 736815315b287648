//! Account passwords: argon2id with the crate's recommended parameters.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::OnceLock;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the password must be at most {MAX_LENGTH} bytes")]
    TooLong,
}

pub fn check_strength(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        Err(PasswordError::TooShort)
    } else if password.len() > MAX_LENGTH {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches `stored`. With `stored = None` (no such user) the same work is
/// done against a fixed hash, so timing does not tell which user names exist.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not the password of anyone"));
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy.as_str(), false),
    };
    if password.len() > MAX_LENGTH {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, hash("correct horse"), "salted");
        assert!(verify("correct horse", Some(&a)));
        assert!(!verify("correct horsE", Some(&a)));
        assert!(!verify("correct horse", None));
        assert!(!verify("x", Some("not a phc string")));
    }

    #[test]
    fn strength() {
        assert_eq!(check_strength("short"), Err(PasswordError::TooShort));
        assert_eq!(
            check_strength(&"x".repeat(2000)),
            Err(PasswordError::TooLong)
        );
        assert!(check_strength("long enough").is_ok());
    }
}
