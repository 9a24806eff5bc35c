//! Opening the state file. A missing file is created whole (migrated in a
//! temporary file, then linked into place, so a file at the path always
//! holds complete state); an existing one is checked to hold state before
//! anything else touches it (an emptied file is an error, never
//! re-initialised); a file this process may not write is opened read-only.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::classify::classify;
use super::migrate::{SCHEMA_VERSION, check_content, migrate};
use super::store::{SqliteStore, random_id};
use crate::store::StateError;

/// How long a statement waits for another process's write to finish.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

impl SqliteStore {
    /// Opens the state at `path`, creating it (and its directory) with a
    /// fresh lineage if there is none.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        Self::open_or_create(path, None)
    }

    /// Opens the state at `path`, creating it with `lineage` (a fresh one
    /// when `None`) if there is none.
    pub fn open_or_create(path: &Path, lineage: Option<&str>) -> Result<Self, StateError> {
        if !path.exists() {
            create(path, lineage)?;
        }
        let store = Self::open_existing(path)?;
        if store.read_only {
            return Err(StateError::ReadOnly {
                path: path_text(path),
                reason: "permission denied".into(),
            });
        }
        Ok(store)
    }

    /// Opens the existing state at `path` (never creating one): for reading
    /// and writing, or read-only when this process may not write the file.
    pub fn open_existing(path: &Path) -> Result<Self, StateError> {
        let meta = std::fs::metadata(path)?;
        if meta.len() == 0 {
            return Err(StateError::Corrupt {
                path: path_text(path),
                reason: "the file is empty (0 bytes): its content was lost".into(),
            });
        }
        if writable(path)? {
            open_read_write(path)
        } else {
            open_read_only(path)
        }
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StateError> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn, Path::new(":memory:"), None)?;
        Ok(Self {
            path: PathBuf::from(":memory:"),
            conn: Mutex::new(conn),
            batches: Default::default(),
            read_only: false,
        })
    }
}

/// Whether this process may write the file; a file it may not even read
/// is [`StateError::Denied`].
fn writable(path: &Path) -> Result<bool, StateError> {
    let denied = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        )
    };
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(_) => Ok(true),
        Err(e) if denied(&e) => match std::fs::File::open(path) {
            Ok(_) => Ok(false),
            Err(e) => Err(StateError::Denied {
                path: path_text(path),
                reason: e.to_string(),
            }),
        },
        Err(e) => Err(e.into()),
    }
}

fn open_read_write(path: &Path) -> Result<SqliteStore, StateError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let sqlite = |e: rusqlite::Error| classify(path, StateError::Sqlite(e));
    let mut conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // Read before any pragma writes: a damaged or emptied file stays as it is.
    let version = check_content(&conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sqlite)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite)?;
    if version < SCHEMA_VERSION {
        migrate(&mut conn, path, None).map_err(|e| classify(path, e))?;
    }
    Ok(SqliteStore {
        path: path.to_path_buf(),
        conn: Mutex::new(conn),
        batches: Default::default(),
        read_only: false,
    })
}

/// A read-only open of a WAL database needs its shared-memory file, which
/// a read-only directory cannot hold; without a write-ahead log to read,
/// the file alone is the whole state and is opened as immutable.
fn open_read_only(path: &Path) -> Result<SqliteStore, StateError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let sqlite = |e: rusqlite::Error| classify(path, StateError::Sqlite(e));
    let conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    let (conn, version) = match check_content(&conn, path) {
        Ok(version) => (conn, version),
        Err(StateError::ReadOnly { .. } | StateError::Sqlite(_)) if !has_wal(path) => {
            let conn = Connection::open_with_flags(immutable_uri(path), flags).map_err(sqlite)?;
            let version = check_content(&conn, path)?;
            (conn, version)
        }
        Err(e) => return Err(cannot_read(path, e)),
    };
    if version < SCHEMA_VERSION {
        return Err(StateError::ReadOnly {
            path: path_text(path),
            reason: format!(
                "it has schema version {version} and must be upgraded to {SCHEMA_VERSION}, which writes it; permission denied"
            ),
        });
    }
    Ok(SqliteStore {
        path: path.to_path_buf(),
        conn: Mutex::new(conn),
        batches: Default::default(),
        read_only: true,
    })
}

/// A read-only state whose write-ahead log exists but cannot be used.
fn cannot_read(path: &Path, error: StateError) -> StateError {
    match error {
        StateError::Sqlite(e) if e.sqlite_error_code() == Some(ErrorCode::CannotOpen) => {
            StateError::ReadOnly {
                path: path_text(path),
                reason: format!("{e}: its write-ahead log needs a writable directory to be read"),
            }
        }
        other => other,
    }
}

fn has_wal(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).is_ok_and(|m| m.len() > 0)
}

/// `file:PATH?immutable=1`, the path percent-encoded.
fn immutable_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for byte in absolute.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                uri.push(*byte as char)
            }
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Creates the state at `path` whole: migrated in a temporary file beside
/// it, then hard-linked into place, so no process ever sees a half-made
/// state file; if another process created one meanwhile, theirs stays.
fn create(path: &Path, lineage: Option<&str>) -> Result<(), StateError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or("state.db".into(), |n| n.to_string_lossy());
    let temp = dir.join(format!(".{name}.{}.new", random_id(6)));
    let made = make_new(&temp, lineage).and_then(|()| link_into_place(&temp, path));
    let _ = std::fs::remove_file(&temp);
    made?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn make_new(temp: &Path, lineage: Option<&str>) -> Result<(), StateError> {
    let mut conn = Connection::open(temp)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    migrate(&mut conn, temp, lineage)?;
    // Closing checkpoints the write-ahead log into the file and removes it.
    conn.close().map_err(|(_, e)| StateError::Sqlite(e))?;
    Ok(())
}

fn link_into_place(temp: &Path, path: &Path) -> Result<(), StateError> {
    match std::fs::hard_link(temp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: a rename, unless someone else
        // created the state meanwhile.
        Err(_) if !path.exists() => Ok(std::fs::rename(temp, path)?),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Expected, RecordedResource};
    use crate::store::ResourceStore;

    fn temp_path() -> crate::sqlite::scratch::TempDb {
        crate::sqlite::scratch::TempDb::new()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn garbage_file_is_reported_not_overwritten() {
        let path = temp_path();
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        let garbage = b"this is not a database, it is a shopping list\n".repeat(200);
        std::fs::write(&path, &garbage).expect("write");
        let err = SqliteStore::open(&path).err().expect("refused");
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            garbage,
            "file was modified"
        );
    }

    #[test]
    fn an_emptied_file_is_refused_and_left_empty() {
        let path = temp_path();
        drop(SqliteStore::open(&path).expect("create"));
        std::fs::write(&path, b"").expect("truncate");
        let err = SqliteStore::open(&path).err().expect("refused");
        assert_eq!(
            err.to_string(),
            format!(
                "state at {} is unreadable: the file is empty (0 bytes): its content was lost",
                path.display()
            )
        );
        assert_eq!(std::fs::metadata(&path).expect("file").len(), 0);
    }

    #[test]
    fn a_database_without_state_is_refused() {
        // What is left when a new state's write-ahead log is lost: a valid
        // SQLite file with nothing in it.
        let path = temp_path();
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        Connection::open(&path)
            .expect("open")
            .execute_batch("CREATE TABLE t (x); DROP TABLE t;")
            .expect("header only");
        let err = SqliteStore::open(&path).err().expect("refused");
        assert!(err.to_string().contains("the file holds no state"), "{err}");
    }

    #[test]
    fn creation_is_whole_and_keeps_a_given_lineage() {
        let path = temp_path();
        let store =
            SqliteStore::open_or_create(&path, Some("00112233445566778899")).expect("create");
        assert_eq!(store.lineage().expect("lineage"), "00112233445566778899");
        let dir = path.parent().expect("dir");
        assert!(
            files_in(dir).iter().all(|f| !f.ends_with(".new")),
            "temporary file left: {:?}",
            files_in(dir)
        );
        drop(store);
        // An existing state keeps its own lineage.
        let again = SqliteStore::open_or_create(&path, Some("ffff")).expect("open");
        assert_eq!(again.lineage().expect("lineage"), "00112233445566778899");
    }

    #[test]
    fn concurrent_creators_share_one_state() {
        let path = temp_path();
        let lineages: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        SqliteStore::open(&path)
                            .expect("open")
                            .lineage()
                            .expect("lineage")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert!(lineages.iter().all(|l| l == &lineages[0]), "{lineages:?}");
    }

    #[test]
    fn read_only_opening_reads_and_refuses_writes_as_permission() {
        let path = temp_path();
        let store = SqliteStore::open(&path).expect("create");
        let row = RecordedResource::new(
            "volume/v".parse().expect("addr"),
            serde_json::json!({}),
            "fp".into(),
        );
        store.put(&row, Expected::Absent).expect("put");
        drop(store);
        let store = open_read_only(&path).expect("read-only");
        assert!(store.is_read_only());
        assert_eq!(store.list().expect("list").len(), 1);
        let err = store.put(&row, Expected::Any).expect_err("write refused");
        assert!(matches!(err, StateError::ReadOnly { .. }), "{err}");
    }

    #[test]
    fn read_only_opening_without_a_log_works_as_immutable() {
        let path = temp_path();
        drop(SqliteStore::open(&path).expect("create"));
        let uri = immutable_uri(&path);
        assert!(
            uri.starts_with("file:/") && uri.ends_with("?immutable=1"),
            "{uri}"
        );
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&uri, flags).expect("immutable");
        assert_eq!(check_content(&conn, &path).expect("state"), SCHEMA_VERSION);
    }
}
