//! Compiled components on disk.
//!
//! Loading compiled code means trusting it completely (wasmtime maps it as executable), so an
//! entry is used only if it carries a MAC made with this user's secret key: a corrupted file, a
//! truncated write, an entry copied from another machine or planted by someone else is rejected
//! and the component recompiled. Entries are keyed by the component's SHA-256 and wasmtime's
//! compatibility key, and the MAC covers both, so an entry cannot be renamed into another's place.
//!
//! An entry also holds the component's manifest, so that a warm start needs no instantiation.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::manifest::Manifest;

const MAGIC: &[u8; 8] = b"TTHRC001";
const MAC_LEN: usize = 32;
const HEADER: usize = MAGIC.len() + MAC_LEN + 4;
const KEY_LEN: usize = 32;

/// An authenticated on-disk cache of compiled components.
pub struct Cache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
}

/// A verified cache entry.
#[derive(Debug)]
pub struct Entry {
    pub manifest: Manifest,
    pub artifact: Vec<u8>,
}

/// The result of looking an entry up.
#[derive(Debug)]
pub enum Lookup {
    Hit(Entry),
    Miss,
    /// The file exists but is not ours or not intact; it has been removed.
    Rejected(String),
}

impl Cache {
    /// Opens (creating if needed) the cache in `dir`, authenticated with the key in `key_file`
    /// (created with mode 0600 on first use).
    pub fn open(dir: &Path, key_file: &Path) -> io::Result<Cache> {
        fs::create_dir_all(dir)?;
        let key = load_or_create_key(key_file)?;
        Ok(Cache {
            dir: dir.to_path_buf(),
            key,
        })
    }

    pub fn path(&self, sha256: &str, compat: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{compat}.cwasm"))
    }

    pub fn load(&self, sha256: &str, compat: &str) -> Lookup {
        let path = self.path(sha256, compat);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return Lookup::Rejected(format!("cannot read {}: {e}", path.display())),
        };
        match self.verify(sha256, compat, bytes) {
            Ok(entry) => Lookup::Hit(entry),
            Err(reason) => {
                let _ = fs::remove_file(&path);
                Lookup::Rejected(format!("{}: {reason}", path.display()))
            }
        }
    }

    fn verify(&self, sha256: &str, compat: &str, mut bytes: Vec<u8>) -> Result<Entry, String> {
        if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
            return Err("not a tether cache entry".into());
        }
        let mac = &bytes[MAGIC.len()..MAGIC.len() + MAC_LEN];
        let expected = self.mac(sha256, compat, &bytes[MAGIC.len() + MAC_LEN..]);
        // blake3::Hash compares in constant time.
        if blake3::Hash::from_bytes(mac.try_into().expect("32 bytes")) != expected {
            return Err("authentication failed (corrupted, or not written by this user)".into());
        }
        let len_at = MAGIC.len() + MAC_LEN;
        let manifest_len =
            u32::from_le_bytes(bytes[len_at..HEADER].try_into().expect("4 bytes")) as usize;
        let manifest_end = HEADER
            .checked_add(manifest_len)
            .filter(|end| *end <= bytes.len())
            .ok_or("truncated manifest")?;
        let manifest: Manifest = serde_json::from_slice(&bytes[HEADER..manifest_end])
            .map_err(|e| format!("unreadable manifest: {e}"))?;
        let artifact = bytes.split_off(manifest_end);
        Ok(Entry { manifest, artifact })
    }

    /// Writes an entry atomically: a reader sees the old state or the whole new entry.
    pub fn store(
        &self,
        sha256: &str,
        compat: &str,
        manifest: &Manifest,
        artifact: &[u8],
    ) -> io::Result<()> {
        let manifest = serde_json::to_vec(manifest).map_err(io::Error::other)?;
        let mut body = Vec::with_capacity(4 + manifest.len() + artifact.len());
        body.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
        body.extend_from_slice(&manifest);
        body.extend_from_slice(artifact);
        let mac = self.mac(sha256, compat, &body);

        let path = self.path(sha256, compat);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(mac.as_bytes())?;
        tmp.write_all(&body)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    fn mac(&self, sha256: &str, compat: &str, body: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(sha256.as_bytes());
        h.update(b"\0");
        h.update(compat.as_bytes());
        h.update(b"\0");
        h.update(body);
        h.finalize()
    }
}

fn load_or_create_key(path: &Path) -> io::Result<[u8; KEY_LEN]> {
    if let Some(key) = read_key(path)? {
        return Ok(key);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
    let mut tmp = tempfile::Builder::new()
        .permissions(private())
        .tempfile_in(dir)?;
    tmp.write_all(&key)?;
    tmp.as_file().sync_all()?;
    // `persist_noclobber` fails if another process created the key first; theirs wins.
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(key),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
            read_key(path)?.ok_or_else(|| io::Error::other("cache key vanished"))
        }
        Err(e) => Err(e.error),
    }
}

fn read_key(path: &Path) -> io::Result<Option<[u8; KEY_LEN]>> {
    match fs::read(path) {
        Ok(bytes) => bytes.try_into().map(Some).map_err(|_| {
            io::Error::other(format!(
                "{} is not a cache key; delete it and tether will make a new one",
                path.display()
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn private() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(0o600)
}

#[cfg(not(unix))]
fn private() -> fs::Permissions {
    fs::metadata(".").expect("cwd").permissions()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_protocol::{Kind, Safety};

    fn manifest() -> Manifest {
        Manifest {
            name: "x".into(),
            aliases: vec![],
            description: "d".into(),
            argument_hint: None,
            kind: Kind::Local,
            safety: Safety::default(),
            capabilities: vec![],
        }
    }

    fn cache(dir: &Path) -> Cache {
        Cache::open(&dir.join("c"), &dir.join("key")).unwrap()
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        assert!(matches!(c.load("aa", "bb"), Lookup::Miss));
        c.store("aa", "bb", &manifest(), b"code").unwrap();
        let Lookup::Hit(e) = c.load("aa", "bb") else {
            panic!()
        };
        assert_eq!(e.artifact, b"code");
        assert_eq!(e.manifest, manifest());
    }

    #[cfg(unix)]
    #[test]
    fn key_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        cache(dir.path());
        let mode = fs::metadata(dir.path().join("key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        c.store("aa", "bb", &manifest(), b"some code").unwrap();
        let good = fs::read(c.path("aa", "bb")).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(c.path("aa", "bb"), &bad).unwrap();
            assert!(
                matches!(c.load("aa", "bb"), Lookup::Rejected(_)),
                "byte {i}"
            );
            assert!(!c.path("aa", "bb").exists(), "rejected entry removed");
        }
    }

    #[test]
    fn truncated_and_garbage_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        c.store("aa", "bb", &manifest(), b"some code").unwrap();
        let good = fs::read(c.path("aa", "bb")).unwrap();
        for len in [0, 3, 8, HEADER - 1, HEADER, good.len() - 1] {
            fs::write(c.path("aa", "bb"), &good[..len]).unwrap();
            assert!(
                matches!(c.load("aa", "bb"), Lookup::Rejected(_)),
                "len {len}"
            );
        }
        fs::write(c.path("aa", "bb"), b"\x7fELF not ours at all").unwrap();
        assert!(matches!(c.load("aa", "bb"), Lookup::Rejected(_)));
    }

    #[test]
    fn foreign_key_or_renamed_entry_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mine = cache(dir.path());
        let other = Cache::open(&dir.path().join("c"), &dir.path().join("other-key")).unwrap();
        other.store("aa", "bb", &manifest(), b"planted").unwrap();
        assert!(matches!(mine.load("aa", "bb"), Lookup::Rejected(_)));

        mine.store("aa", "bb", &manifest(), b"code").unwrap();
        fs::rename(mine.path("aa", "bb"), mine.path("cc", "bb")).unwrap();
        assert!(matches!(mine.load("cc", "bb"), Lookup::Rejected(_)));
    }

    #[test]
    fn malformed_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("key"), b"short").unwrap();
        let err = Cache::open(&dir.path().join("c"), &dir.path().join("key"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a cache key"));
    }
}
