//! The compiled-plugin cache that [`Tether::new`] starts from, so that only the tests about
//! first starts pay for compiling the stock plugins.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{Tether, tether_bin};

/// A compiled-plugin cache and its key, made once per test process by a cold start, for
/// [`Tether::new`] to copy.
pub(crate) struct WarmCache {
    pub(crate) key: PathBuf,
    pub(crate) components: PathBuf,
}

pub(crate) fn warm_cache() -> &'static WarmCache {
    static WARM: OnceLock<WarmCache> = OnceLock::new();
    WARM.get_or_init(|| {
        // Statics are never dropped, so this lives under the target directory, one per test
        // process, and the next run clears those of processes that are gone.
        let parent = tether_bin()
            .parent()
            .and_then(Path::parent)
            .map(|target| target.join("tmp").join("tether-e2e"))
            .unwrap_or_else(|| std::env::temp_dir().join("tether-e2e"));
        clear_stale(&parent);
        let dir = parent.join(format!("warm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the warm cache directory");
        let t = Tether::in_dir(dir);
        t.run(["commands", "--json"]).assert_success();
        let warm = WarmCache {
            key: t.data_dir().join("cache.key"),
            components: t.cache_dir().join("components"),
        };
        assert!(warm.key.is_file(), "a cold start made no cache key");
        warm
    })
}

/// Removes the `warm-<pid>` directories of processes that no longer run.
fn clear_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("warm-") else {
            continue;
        };
        let gone = cfg!(target_os = "linux") && !Path::new("/proc").join(pid).exists();
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
