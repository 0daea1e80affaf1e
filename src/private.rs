//! Owner-only files. The data folder holds users' emails, the audit trail,
//! hashes of live sessions and (in the demo) the admin token, the key and
//! the SMS outbox with live codes: nobody but the gateway's user may read
//! any of it, whatever umask the gateway was started with.
//!
//! Two layers: the process umask is set to `077` first thing, so every file
//! and folder created later (by sled, by Pingora's pid file, by us) is
//! owner-only without each call site asking; and the data folder is created
//! `0700`, with an existing one tightened at start-up (group and other bits
//! removed from it and from the gateway's own entries in it), since a folder
//! made by an older version or by hand under umask `022` stays readable
//! otherwise. Tightening rather than refusing to start keeps an upgrade a
//! restart. Only the gateway's own entries are touched, so a folder shared
//! by mistake (a home directory) keeps the rest as it was; a folder writable
//! by everyone (`/tmp`) or one the gateway cannot tighten (not its own)
//! stops start-up with a message naming it.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cannot make {path} private to the gateway's user: {source}")]
pub struct PrivateError {
    pub path: String,
    pub source: io::Error,
}

fn failed(path: &Path) -> impl FnOnce(io::Error) -> PrivateError + '_ {
    move |source| PrivateError {
        path: path.display().to_string(),
        source,
    }
}

/// Makes every file and folder this process creates from now on owner-only.
/// Call before any other thread starts: the umask is the whole process's.
pub fn restrict_new_files() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` and its missing parents owner-only; an existing folder is
/// left as it is.
pub fn create(dir: &Path) -> Result<(), PrivateError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(failed(dir))
}

/// What the gateway keeps in its data folder: sled's store, the demo's
/// admin token, key and SMS outbox, Pingora's pid file and upgrade socket.
pub const OWN_ENTRIES: &[&str] = &[
    "store",
    "admin.token",
    "secret.key",
    "sms-outbox.jsonl",
    "gateway.pid",
    "upgrade.sock",
];

/// Creates `dir` like `create`, or tightens it and its `OWN_ENTRIES`
/// (folders with everything in them) if it exists. Returns what had to be
/// tightened, so the caller can say so. Symbolic links inside are left
/// alone, not followed.
pub fn folder(dir: &Path) -> Result<Vec<PathBuf>, PrivateError> {
    create(dir)?;
    let mut tightened = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir).map_err(failed(dir))?.permissions().mode();
        if mode & 0o002 != 0 {
            return Err(failed(dir)(io::Error::other(
                "it is writable by all users, a shared folder like /tmp; give the gateway a folder of its own",
            )));
        }
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700)).map_err(failed(dir))?;
            tightened.push(dir.to_path_buf());
        }
        for name in OWN_ENTRIES {
            let path = dir.join(name);
            if std::fs::symlink_metadata(&path).is_ok() {
                tighten(&path, &mut tightened)?;
            }
        }
    }
    Ok(tightened)
}

/// Removes group and other permissions from `path` and, for a folder,
/// from everything in it.
#[cfg(unix)]
fn tighten(path: &Path, tightened: &mut Vec<PathBuf>) -> Result<(), PrivateError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::symlink_metadata(path).map_err(failed(path))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700)).map_err(failed(path))?;
        tightened.push(path.to_path_buf());
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(failed(path))? {
            let entry = entry.map_err(failed(path))?;
            tighten(&entry.path(), tightened)?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_folder_and_its_missing_parents_are_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("data");
        assert!(folder(&dir).unwrap().is_empty());
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
    }

    #[test]
    fn an_open_folder_is_tightened_with_everything_in_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(dir.join("store/blobs")).unwrap();
        std::fs::write(dir.join("store/db"), "x").unwrap();
        std::fs::write(dir.join("admin.token"), "x").unwrap();
        set(&dir, 0o755);
        set(&dir.join("store"), 0o775);
        set(&dir.join("store/blobs"), 0o777);
        set(&dir.join("store/db"), 0o664);
        set(&dir.join("admin.token"), 0o604);
        let tightened = folder(&dir).unwrap();
        assert_eq!(tightened.len(), 5, "{tightened:?}");
        for (path, expected) in [
            ("", 0o700),
            ("store", 0o700),
            ("store/blobs", 0o700),
            ("store/db", 0o600),
            ("admin.token", 0o600),
        ] {
            assert_eq!(mode(&dir.join(path)), expected, "{path}");
        }
    }

    #[test]
    fn what_is_not_the_gateways_is_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        std::fs::create_dir_all(dir.join("photos")).unwrap();
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        set(&dir, 0o755);
        set(&dir.join("photos"), 0o755);
        set(&dir.join("notes.txt"), 0o644);
        assert_eq!(folder(&dir).unwrap(), vec![dir.clone()]);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("photos")), 0o755);
        assert_eq!(mode(&dir.join("notes.txt")), 0o644);
    }

    #[test]
    fn a_folder_everyone_may_write_to_is_refused_and_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        for shared in [0o777, 0o1777, 0o703] {
            let dir = tmp.path().join(format!("shared-{shared:o}"));
            std::fs::create_dir(&dir).unwrap();
            set(&dir, shared);
            let e = folder(&dir).unwrap_err();
            assert!(e.to_string().contains("writable by all users"), "{e}");
            assert_eq!(mode(&dir), shared & 0o777);
        }
    }

    #[test]
    fn owner_permissions_are_kept_and_a_private_folder_is_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("read-only"), "x").unwrap();
        set(&dir, 0o700);
        set(&dir.join("read-only"), 0o400);
        assert!(folder(&dir).unwrap().is_empty());
        assert_eq!(mode(&dir.join("read-only")), 0o400);
    }

    #[test]
    fn a_link_out_of_the_folder_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("shared.txt");
        std::fs::write(&outside, "x").unwrap();
        set(&outside, 0o644);
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("sms-outbox.jsonl")).unwrap();
        folder(&dir).unwrap();
        assert_eq!(mode(&outside), 0o644);
    }
}
