//! Tar.gz archives of files: how the CLI ships the repo, `files:` and
//! artifacts to a runner and back. Packing is deterministic (sorted paths,
//! zeroed times and owners) so equal contents give equal hashes; unpacking
//! never writes outside its destination.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::Digest;

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every file and symlink under `root` (relative paths, sorted), skipping
/// directories named in `skip` at any depth.
pub fn list_files(root: &Path, skip: &[&str]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(root, Path::new(""), skip, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(root: &Path, rel: &Path, skip: &[&str], out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let name = entry.file_name();
        let path = rel.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !skip.iter().any(|s| name == *s) {
                walk(root, &path, skip, out)?;
            }
        } else if kind.is_file() || kind.is_symlink() {
            out.push(path);
        }
    }
    Ok(())
}

/// Packs `files` (relative to `root`; missing ones are skipped, so a list
/// taken a moment earlier is fine) into a deterministic tar.gz. Fails when
/// the archive would exceed `limit` bytes of content.
pub fn pack(root: &Path, files: &[PathBuf], limit: u64) -> io::Result<Vec<u8>> {
    let mut sorted: Vec<&PathBuf> = files.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    builder.follow_symlinks(false);
    let mut total = 0u64;
    for rel in sorted {
        check_relative(rel)?;
        let full = root.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            continue;
        };
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full)?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mode(0o777);
            builder.append_link(&mut header, rel, target)?;
        } else if meta.is_file() {
            total += meta.len();
            if total > limit {
                return Err(io::Error::other(format!(
                    "more than {} MB to pack under {} (at {}); list what to leave out in .dstackignore or .gitignore",
                    limit / 1_000_000,
                    root.display(),
                    rel.display()
                )));
            }
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            header.set_mode(file_mode(&meta));
            builder.append_data(&mut header, rel, std::fs::File::open(&full)?)?;
        }
    }
    builder.into_inner()?.finish()
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> u32 {
    0o644
}

fn check_relative(path: &Path) -> io::Result<()> {
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a plain relative path", path.display()),
        ))
    }
}

/// What an unpack wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Files (and links) written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Unpacks a tar.gz into `dest` (created if missing). Entries that would
/// land outside `dest` (`..`, absolute paths, through symlinks) are refused;
/// more than `limit` bytes of content fails.
pub fn unpack(archive: &[u8], dest: &Path, limit: u64) -> io::Result<Unpacked> {
    unpack_tar(GzDecoder::new(archive), dest, limit)
}

/// [`unpack`] of a plain tar stream.
pub fn unpack_tar(reader: impl Read, dest: &Path, limit: u64) -> io::Result<Unpacked> {
    std::fs::create_dir_all(dest)?;
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    let mut done = Unpacked::default();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let size = entry.header().size()?;
        done.bytes += size;
        if done.bytes > limit {
            return Err(io::Error::other(format!(
                "archive holds more than {} MB",
                limit / 1_000_000
            )));
        }
        let path = entry.path()?.into_owned();
        check_relative(&path)?;
        if !entry.unpack_in(dest)? {
            return Err(io::Error::other(format!(
                "archive entry {} would land outside {}",
                path.display(),
                dest.display()
            )));
        }
        if !entry.header().entry_type().is_dir() {
            done.files += 1;
        }
    }
    Ok(done)
}

/// Paths (with sizes) inside a tar.gz, in archive order.
pub fn entries(archive: &[u8]) -> io::Result<Vec<(PathBuf, u64)>> {
    let mut tar = tar::Archive::new(GzDecoder::new(archive));
    let mut out = Vec::new();
    for entry in tar.entries()? {
        let entry = entry?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        out.push((entry.path()?.into_owned(), entry.header().size()?));
    }
    Ok(out)
}

/// One plain tar that, unpacked at `/`, creates each `(absolute path,
/// tar.gz)` pair's directories and puts the archive's entries under it: a
/// single upload into a container instead of one per archive.
pub fn rebased_tar(parts: &[(String, &[u8])]) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut made: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
    let mut dir = |builder: &mut tar::Builder<Vec<u8>>, path: &Path| -> io::Result<()> {
        let mut prefix = PathBuf::new();
        for part in path.components() {
            if let Component::Normal(name) = part {
                prefix.push(name);
                if made.insert(prefix.clone()) {
                    let mut header = tar::Header::new_gnu();
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    header.set_mtime(0);
                    builder.append_data(&mut header, &prefix, io::empty())?;
                }
            }
        }
        Ok(())
    };
    for (target, gz) in parts {
        let root = PathBuf::from(target.trim_start_matches('/'));
        dir(&mut builder, &root)?;
        let mut archive = tar::Archive::new(GzDecoder::new(*gz));
        for entry in archive.entries()? {
            let mut entry = entry?;
            let rel = entry.path()?.into_owned();
            check_relative(&rel)?;
            let path = root.join(&rel);
            if let Some(parent) = path.parent() {
                dir(&mut builder, parent)?;
            }
            let mut header = entry.header().clone();
            match header.entry_type() {
                tar::EntryType::Directory => dir(&mut builder, &path)?,
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name()?
                        .map(|l| l.into_owned())
                        .unwrap_or_default();
                    builder.append_link(&mut header, &path, target)?;
                }
                _ => builder.append_data(&mut header, &path, &mut entry)?,
            }
        }
    }
    builder.into_inner()
}

/// Gunzips bytes (for engines that want a plain tar).
pub fn gunzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

/// Gzips bytes.
pub fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempdir::Dir {
        let dir = tempdir::Dir::new();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/c.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("top.txt"), "top").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        dir
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let p = std::env::temp_dir()
                    .join(format!("dstack-archive-test-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn round_trip_and_determinism() {
        let src = tree();
        let files = list_files(src.path(), &[".git"]).unwrap();
        assert_eq!(
            files,
            vec![PathBuf::from("a/b/c.txt"), PathBuf::from("top.txt")]
        );
        let one = pack(src.path(), &files, 1 << 20).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(src.path().join("top.txt"), "top").unwrap();
        let two = pack(src.path(), &files, 1 << 20).unwrap();
        assert_eq!(sha256_hex(&one), sha256_hex(&two), "mtime must not matter");
        let dest = tempdir::Dir::new();
        let done = unpack(&one, dest.path(), 1 << 20).unwrap();
        assert_eq!(done.files, 2);
        assert_eq!(
            std::fs::read_to_string(dest.path().join("a/b/c.txt")).unwrap(),
            "hello"
        );
    }

    #[test]
    fn limits_are_enforced() {
        let src = tree();
        let files = list_files(src.path(), &[]).unwrap();
        let err = pack(src.path(), &files, 4).unwrap_err();
        assert!(err.to_string().contains(".dstackignore"), "{err}");
        let ok = pack(src.path(), &files, 1 << 20).unwrap();
        let dest = tempdir::Dir::new();
        assert!(unpack(&ok, dest.path(), 3).is_err());
    }

    #[test]
    fn escaping_entries_are_refused() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        // `append_data` refuses `..`; write the name field directly.
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../x.txt\0");
        header.set_cksum();
        builder.append(&header, &b"x"[..]).unwrap();
        let bytes = gzip(&builder.into_inner().unwrap()).unwrap();
        let dest = tempdir::Dir::new();
        assert!(unpack(&bytes, &dest.path().join("in"), 1 << 20).is_err());
        assert!(!dest.path().join("x.txt").exists());
    }

    #[test]
    fn rebased_tar_puts_each_archive_under_its_path() {
        let src = tree();
        let files = list_files(src.path(), &[".git"]).unwrap();
        let gz = pack(src.path(), &files, 1 << 20).unwrap();
        let tar =
            rebased_tar(&[("/workflow".into(), &gz[..]), ("/inputs/x".into(), &gz[..])]).unwrap();
        let dest = tempdir::Dir::new();
        unpack_tar(&tar[..], dest.path(), 1 << 20).unwrap();
        for root in ["workflow", "inputs/x"] {
            assert_eq!(
                std::fs::read_to_string(dest.path().join(root).join("a/b/c.txt")).unwrap(),
                "hello"
            );
        }
    }
}
