//! Uploads: a file or bytes streamed to a temporary path next to the
//! destination, its SHA-256 checked on the host, then renamed into place
//! with its mode, so a reader never sees a partial file.

use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

use crate::error::{ErrorKind, SshError};
use crate::session::Session;

/// What to upload.
#[derive(Debug, Clone, Copy)]
pub enum UploadSource<'a> {
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// A local file, streamed (never loaded whole).
    File(&'a Path),
}

/// What arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// Bytes written.
    pub bytes: u64,
    /// Hex SHA-256, computed here while sending and confirmed by the host.
    pub sha256: String,
}

/// Hashes (and counts) what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let fresh = &buf.filled()[before..];
            self.hasher.update(fresh);
            self.bytes += fresh.len() as u64;
        }
        polled
    }
}

fn quote(session: &Session, word: &str) -> Result<String, SshError> {
    shlex::try_quote(word)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| {
            SshError::new(session.label(), ErrorKind::InvalidInput)
                .with_detail(format!("remote path {word:?} contains a NUL byte"))
        })
}

fn temp_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos:x}-{count}", std::process::id())
}

impl Session {
    /// Uploads `source` to `remote_path` with permission bits `mode`
    /// (e.g. `0o755`), creating its directory. `timeout` bounds the whole
    /// transfer. The file appears at `remote_path` only once its SHA-256 on
    /// the host matches what was sent.
    pub async fn upload(
        &self,
        source: UploadSource<'_>,
        remote_path: &str,
        mode: u32,
        timeout: Duration,
    ) -> Result<UploadReport, SshError> {
        let temp = quote(
            self,
            &format!("{remote_path}.dstack-upload-{}", temp_suffix()),
        )?;
        let transfer = async {
            match source {
                UploadSource::Bytes(bytes) => {
                    self.upload_from(bytes, remote_path, &temp, mode).await
                }
                UploadSource::File(path) => {
                    let file = tokio::fs::File::open(path).await.map_err(|e| {
                        SshError::new(self.label(), ErrorKind::InvalidInput)
                            .with_detail(format!("cannot read {}", path.display()))
                            .with_source(e)
                    })?;
                    self.upload_from(file, remote_path, &temp, mode).await
                }
            }
        };
        match tokio::time::timeout(timeout, transfer).await {
            Ok(result) => result,
            Err(_) => {
                // Best effort: the connection may be what timed out.
                self.remove_quietly(&temp).await;
                Err(SshError::new(self.label(), ErrorKind::Timeout(timeout))
                    .with_detail(format!("uploading {remote_path}")))
            }
        }
    }

    async fn remove_quietly(&self, quoted_path: &str) {
        let remove = format!("rm -f -- {quoted_path}");
        let _ = self.exec(&remove, Duration::from_secs(5)).await;
    }

    /// Streams into `temp` (already quoted), checks, then renames.
    async fn upload_from<R>(
        &self,
        reader: R,
        remote_path: &str,
        temp: &str,
        mode: u32,
    ) -> Result<UploadReport, SshError>
    where
        R: AsyncRead + Unpin,
    {
        let target = quote(self, remote_path)?;
        let dir = quote(self, parent_of(remote_path))?;
        let receive =
            format!("set -e; umask 077; mkdir -p -- {dir}; cat > {temp}; sha256sum -- {temp}");
        let mut process = self.spawn(&receive).await?;
        let mut hashing = Hashing {
            inner: reader,
            hasher: Sha256::new(),
            bytes: 0,
        };
        process.write_stdin(&mut hashing).await?;
        process.close_stdin().await?;
        let received = process.wait_output().await?;
        let sent = hex::encode(hashing.hasher.finalize());
        let remote_sum = received
            .stdout_text()
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned();
        if !received.success() || remote_sum != sent {
            self.remove_quietly(temp).await;
            let why = if received.success() {
                format!("checksum mismatch: sent {sent}, the host has {remote_sum}")
            } else {
                format!(
                    "receiving into {remote_path} failed: {}",
                    received.stderr_text().trim()
                )
            };
            return Err(SshError::new(self.label(), ErrorKind::Remote).with_detail(why));
        }
        let place = format!("chmod {mode:o} -- {temp} && mv -f -- {temp} {target}");
        self.run(&place, Duration::from_secs(60)).await?;
        Ok(UploadReport {
            bytes: hashing.bytes,
            sha256: sent,
        })
    }
}

fn parent_of(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((dir, _)) => dir,
        None => ".",
    }
}

#[cfg(test)]
mod tests {
    use super::parent_of;

    #[test]
    fn parents_of_remote_paths() {
        for (path, parent) in [
            ("/usr/local/bin/x", "/usr/local/bin"),
            ("/x", "/"),
            ("x", "."),
            ("a/b", "a"),
        ] {
            assert_eq!(parent_of(path), parent, "{path}");
        }
    }
}
