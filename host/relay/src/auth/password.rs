//! Account passwords: argon2id with the crate's recommended parameters.

use std::cell::RefCell;
use std::sync::OnceLock;

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;

/// The shortest password accepted, in characters.
pub const MIN_LENGTH: usize = 8;
/// The longest, in bytes: a bound on what one login attempt makes the relay hash.
pub const MAX_LENGTH: usize = 1024;

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Under [`MIN_LENGTH`].
    #[error("the password must be at least {MIN_LENGTH} characters")]
    TooShort,
    /// Over [`MAX_LENGTH`].
    #[error("the password must be at most {MAX_LENGTH} bytes")]
    TooLong,
}

/// Whether `password` may be set.
pub fn check_strength(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        Err(PasswordError::TooShort)
    } else if password.len() > MAX_LENGTH {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// The argon2id hash (PHC string) to store.
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
    let ok = MEMORY.with(|memory| check(password.as_bytes(), phc, &mut memory.borrow_mut()));
    ok && real
}

thread_local! {
    /// The argon2 working memory of this thread's checks, kept between them. Allocated afresh
    /// for each check (as the crate's own `verify_password` does), 19 MiB buffers pile up in the
    /// allocator: a thread that had checked seven passwords held seven of them (BENCHMARKS.md,
    /// "Login bursts"). Argon2 writes every block before it reads it, so reuse is safe.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// What `PasswordVerifier::verify_password` does, in `memory`: hash `password` with the
/// stored hash's algorithm, version, parameters and salt, and compare in constant time.
fn check(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut computed, &mut memory[..blocks])
        .is_ok()
        && bool::from(computed.ct_eq(expected.as_bytes()))
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
    fn checks_reuse_their_memory_and_still_agree_with_the_crate() {
        use argon2::password_hash::PasswordVerifier as _;
        let stored = hash("correct horse");
        let parsed = PasswordHash::new(&stored).unwrap();
        // The same thread's memory, dirty from the check before, again and again.
        for password in [
            "correct horse",
            "wrong",
            "correct horse",
            "",
            "correct horsE",
        ] {
            let ours = verify(password, Some(&stored));
            let crate_says = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            assert_eq!(ours, crate_says, "{password:?}");
        }
        // Other parameters and algorithms, as stored by other versions of the relay.
        for (algorithm, params) in [
            (Algorithm::Argon2id, Params::new(64, 1, 1, None).unwrap()),
            (
                Algorithm::Argon2i,
                Params::new(128, 2, 2, Some(16)).unwrap(),
            ),
            (Algorithm::Argon2d, Params::new(32, 3, 1, Some(64)).unwrap()),
        ] {
            let other = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"horse battery")
                .unwrap()
                .to_string();
            assert!(verify("horse battery", Some(&other)), "{other}");
            assert!(!verify("horse batterY", Some(&other)), "{other}");
        }
        // Damaged hashes verify nothing.
        let cut = &stored[..stored.len() - 4];
        let no_salt = stored.replace(parsed.salt.unwrap().to_string().as_str(), "");
        for damaged in [
            cut,
            &no_salt,
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2x$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        ] {
            assert!(!verify("correct horse", Some(damaged)), "{damaged}");
        }
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
