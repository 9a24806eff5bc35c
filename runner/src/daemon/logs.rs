//! A job's durable log: one JSON object per line in `log.jsonl`, appended by
//! a single writer, flushed after every batch and fsynced when sealed.
//! Offsets are byte offsets of lines, so readers resume exactly and never
//! see a half-written line (they read only up to the committed length).

use std::io::{self, BufRead, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use tokio::sync::{mpsc, watch};

use crate::api::{LogEntry, LogRecord, LogStream};

/// Longest line kept whole; longer output is split.
pub const MAX_LINE: usize = 16 * 1024;

/// How much of the log is durable and whether it is complete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogProgress {
    /// Committed bytes (whole lines only).
    pub len: u64,
    /// No more lines will come.
    pub sealed: bool,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The appending side of a log.
pub struct LogWriter {
    out: BufWriter<std::fs::File>,
    len: u64,
    progress: watch::Sender<LogProgress>,
}

impl LogWriter {
    /// Opens (or creates) the log for appending; the committed length is
    /// the file's length cut back to its last whole line.
    pub fn open(path: &Path, progress: watch::Sender<LogProgress>) -> io::Result<Self> {
        let len = whole_lines_len(path)?;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(super::secrecy::FILE_MODE)
            .open(path)?;
        file.set_len(len)?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.seek(SeekFrom::Start(len))?;
        progress.send_replace(LogProgress { len, sealed: false });
        Ok(Self { out, len, progress })
    }

    /// Appends one line (not yet visible to readers until [`Self::flush`]).
    pub fn write(&mut self, record: &LogRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.len += line.len() as u64;
        Ok(())
    }

    /// Appends a line from the runner itself.
    pub fn note(&mut self, text: impl Into<String>) -> io::Result<()> {
        self.write(&LogRecord {
            t: now_ms(),
            s: LogStream::Runner,
            m: text.into(),
        })
    }

    /// Makes everything written visible to readers.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.progress.send_modify(|p| p.len = self.len);
        Ok(())
    }

    /// Flushes, fsyncs and marks the log complete. Returns its length.
    pub fn seal(mut self) -> io::Result<u64> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        self.progress.send_replace(LogProgress {
            len: self.len,
            sealed: true,
        });
        Ok(self.len)
    }
}

fn whole_lines_len(path: &Path) -> io::Result<u64> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    Ok(bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i as u64 + 1))
}

/// Lines sent to a log writer task.
pub type LogSender = mpsc::Sender<LogRecord>;

/// Runs the writer on its own task: lines are written as they come and
/// flushed whenever the queue runs dry. Ends (handing the writer back)
/// when every sender is dropped.
pub fn spawn_writer(
    mut writer: LogWriter,
) -> (LogSender, tokio::task::JoinHandle<io::Result<LogWriter>>) {
    let (tx, mut rx) = mpsc::channel::<LogRecord>(4096);
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            writer.write(&first)?;
            while let Ok(more) = rx.try_recv() {
                writer.write(&more)?;
            }
            writer.flush()?;
        }
        writer.flush()?;
        Ok(writer)
    });
    (tx, task)
}

/// Splits a byte stream into log lines: on `\n`, dropping a trailing `\r`,
/// splitting lines longer than [`MAX_LINE`], replacing invalid UTF-8.
#[derive(Debug)]
pub struct LineSplitter {
    stream: LogStream,
    pending: Vec<u8>,
}

impl LineSplitter {
    /// A splitter for one stream.
    pub fn new(stream: LogStream) -> Self {
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    /// Feeds bytes; returns the complete lines.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<LogRecord> {
        let mut out = Vec::new();
        let t = now_ms();
        for &b in bytes {
            if b == b'\n' {
                out.push(self.take(t));
            } else {
                self.pending.push(b);
                if self.pending.len() >= MAX_LINE {
                    out.push(self.take(t));
                }
            }
        }
        out
    }

    /// The unterminated rest, at end of stream.
    pub fn finish(&mut self) -> Option<LogRecord> {
        (!self.pending.is_empty()).then(|| self.take(now_ms()))
    }

    fn take(&mut self, t: i64) -> LogRecord {
        if self.pending.last() == Some(&b'\r') {
            self.pending.pop();
        }
        let m = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        LogRecord {
            t,
            s: self.stream,
            m,
        }
    }
}

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The offset is not where a line starts.
    #[error("offset {0} is not the start of a log line; resume from an offset a page returned")]
    BadOffset(u64),
    /// The file failed.
    #[error("cannot read the log: {0}")]
    Io(#[from] io::Error),
}

/// Reads whole lines from `offset` up to `end` (the committed length),
/// about `limit` bytes at most (always at least one line when one exists).
pub fn read_page(
    path: &Path,
    offset: u64,
    end: u64,
    limit: u64,
) -> Result<(Vec<LogEntry>, u64), PageError> {
    if offset >= end {
        if offset > end {
            return Err(PageError::BadOffset(offset));
        }
        return Ok((Vec::new(), offset));
    }
    let mut file = std::fs::File::open(path)?;
    if offset > 0 {
        let mut before = [0u8; 1];
        file.seek(SeekFrom::Start(offset - 1))?;
        file.read_exact(&mut before)?;
        if before[0] != b'\n' {
            return Err(PageError::BadOffset(offset));
        }
    } else {
        file.seek(SeekFrom::Start(0))?;
    }
    let mut reader = io::BufReader::new(file.take(end - offset));
    let mut entries = Vec::new();
    let mut at = offset;
    let mut line = Vec::new();
    while at < end && (at - offset < limit || entries.is_empty()) {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let record: LogRecord = serde_json::from_slice(&line).unwrap_or_else(|e| LogRecord {
            t: 0,
            s: LogStream::Runner,
            m: format!("[damaged log line at offset {at}: {e}]"),
        });
        entries.push(LogEntry { offset: at, record });
        at += n as u64;
    }
    Ok((entries, at))
}

/// A line from the runner itself.
pub fn note(text: impl Into<String>) -> LogRecord {
    LogRecord {
        t: now_ms(),
        s: LogStream::Runner,
        m: text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("dstack-logs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("log.jsonl")
    }

    #[test]
    fn splitter_handles_partial_long_and_crlf_lines() {
        let mut s = LineSplitter::new(LogStream::Stdout);
        assert!(s.feed(b"hel").is_empty());
        let lines = s.feed(b"lo\r\nwor");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].m, "hello");
        assert_eq!(s.finish().unwrap().m, "wor");
        assert!(s.finish().is_none());
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let lines = s.feed(&long);
        assert_eq!(lines.len(), 2);
        assert_eq!(s.finish().unwrap().m.len(), 5);
        assert_eq!(s.feed(&[0xff, b'\n'])[0].m, "\u{fffd}");
    }

    #[test]
    fn pages_resume_at_offsets_and_respect_the_committed_end() {
        let path = temp("pages");
        let (tx, rx) = watch::channel(LogProgress::default());
        let mut w = LogWriter::open(&path, tx).unwrap();
        for i in 0..10 {
            w.note(format!("line {i}")).unwrap();
        }
        // Not flushed: readers see nothing yet.
        assert_eq!(rx.borrow().len, 0);
        w.flush().unwrap();
        let end = rx.borrow().len;
        let (first, next) = read_page(&path, 0, end, 1).unwrap();
        assert_eq!(first.len(), 1, "at least one line even over the limit");
        let (rest, done) = read_page(&path, next, end, 1 << 20).unwrap();
        assert_eq!(rest.len(), 9);
        assert_eq!(done, end);
        assert_eq!(rest[8].record.m, "line 9");
        assert!(matches!(
            read_page(&path, next + 1, end, 100),
            Err(PageError::BadOffset(_))
        ));
        let len = w.seal().unwrap();
        assert_eq!(len, end);
        assert!(rx.borrow().sealed);
    }

    #[test]
    fn reopening_drops_a_torn_last_line() {
        let path = temp("torn");
        std::fs::write(
            &path,
            b"{\"t\":1,\"s\":\"out\",\"m\":\"ok\"}\n{\"t\":2,\"s\":\"ou",
        )
        .unwrap();
        let (tx, rx) = watch::channel(LogProgress::default());
        let mut w = LogWriter::open(&path, tx).unwrap();
        w.note("after").unwrap();
        w.flush().unwrap();
        let (entries, _) = read_page(&path, 0, rx.borrow().len, 1 << 20).unwrap();
        let texts: Vec<_> = entries.iter().map(|e| e.record.m.as_str()).collect();
        assert_eq!(texts, ["ok", "after"]);
    }
}
