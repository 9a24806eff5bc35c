//! Reading the files dstack reads (configurations, `.dstack/backends.yml`,
//! workflows and variables, `.dstackignore`, `files:` sources, saved plans,
//! fake-cloud catalogs): regular files only. A named pipe, socket or device
//! is never read, so it cannot hang the CLI: the file is opened without
//! blocking and checked before a byte is read. Files a command was told to
//! read are errors when not regular; files found by looking around are
//! skipped with a warning ([`Special::warning`]).

use std::fs::Metadata;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A path that is there but is not a regular file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Special {
    /// The path.
    pub path: PathBuf,
    /// What it is ("a named pipe (FIFO)").
    pub what: &'static str,
}

impl Special {
    /// The warning for a file skipped while looking around.
    pub fn warning(&self) -> String {
        format!(
            "warning: skipping {}: it is {}, not a regular file",
            shown(&self.path),
            self.what
        )
    }
}

/// A path as people read it (`./x` → `x`).
pub fn shown(path: &Path) -> String {
    path.strip_prefix(".")
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not a regular file (a FIFO, socket, device or directory).
    #[error("{} is {}, not a regular file; dstack reads only regular files", shown(&.0.path), .0.what)]
    NotRegular(Special),
    /// It does not exist.
    #[error("{} does not exist", shown(.0))]
    Missing(PathBuf),
    /// Any other failure.
    #[error("cannot read {}", shown(path))]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a file system entry is, when it is not a regular file.
pub fn special_kind(meta: &Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_block_device() {
            return Some("a block device");
        }
    }
    Some("not a regular file")
}

/// `Some` when `path` exists (following symlinks) and is not a regular file.
pub fn special(path: &Path) -> Option<Special> {
    let meta = std::fs::metadata(path).ok()?;
    special_kind(&meta).map(|what| Special {
        path: path.to_path_buf(),
        what,
    })
}

fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading would wait for a writer.
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn io_error(path: &Path, source: std::io::Error) -> FileError {
    match source.kind() {
        std::io::ErrorKind::NotFound => FileError::Missing(path.to_path_buf()),
        _ => FileError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// The regular file at `path`, open for reading, with its metadata.
pub fn open_regular(path: &Path) -> Result<(std::fs::File, Metadata), FileError> {
    let file = open_nonblocking(path).map_err(|e| match special(path) {
        // A socket cannot be opened at all (ENXIO): say what it is.
        Some(s) => FileError::NotRegular(s),
        None => io_error(path, e),
    })?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    match special_kind(&meta) {
        Some(what) => Err(FileError::NotRegular(Special {
            path: path.to_path_buf(),
            what,
        })),
        None => Ok((file, meta)),
    }
}

/// The bytes of the regular file at `path`.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, FileError> {
    let (mut file, meta) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    Ok(bytes)
}

/// Like [`read_regular`], with a missing file as `None`.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    match read_regular(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(FileError::Missing(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The text of the regular file at `path` (invalid UTF-8 is an error).
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let bytes = read_regular(path)?;
    String::from_utf8(bytes).map_err(|e| FileError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
    }

    #[test]
    fn only_regular_files_are_read_and_nothing_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pipe.dstack.yml");
        mkfifo(&fifo);
        let err = read_regular(&fifo).expect_err("a FIFO is refused");
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a named pipe (FIFO), not a regular file; dstack reads only regular files",
                fifo.display()
            )
        );
        let socket_path = dir.path().join("sock.yml");
        let _socket = std::os::unix::net::UnixListener::bind(&socket_path).expect("bind");
        let err = read_regular(&socket_path).expect_err("a socket is refused");
        assert!(
            err.to_string().contains("is a socket, not a regular file"),
            "{err}"
        );
        let err = read_regular(Path::new("/dev/zero")).expect_err("a device is refused");
        assert!(err.to_string().contains("a character device"), "{err}");
        let err = read_regular(dir.path()).expect_err("a directory is refused");
        assert!(err.to_string().contains("is a directory"), "{err}");
        let file = dir.path().join("a.yml");
        std::fs::write(&file, "type: task\n").expect("write");
        assert_eq!(read_regular(&file).expect("read"), b"type: task\n");
        assert_eq!(read_optional(&dir.path().join("none")).expect("ok"), None);
        assert!(matches!(
            read_regular(&dir.path().join("none")),
            Err(FileError::Missing(_))
        ));
        let link = dir.path().join("link.yml");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert_eq!(read_text(&link).expect("read"), "type: task\n");
    }
}
