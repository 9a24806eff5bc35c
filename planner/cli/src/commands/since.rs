//! `--since`: a duration back from now (`10m`) or a time (RFC 3339), and
//! the log filter it gives.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dstack_state::LogLine;

/// Parses `--since`: `10m`, `2h 30m` (that long ago) or
/// `2026-11-23T10:00:00Z` (RFC 3339).
pub fn parse_since(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    if let Ok(ago) = humantime::parse_duration(text) {
        return SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| format!("`{text}` reaches back before 1970"));
    }
    humantime::parse_rfc3339_weak(text).map_err(|_| {
        format!(
            "`{text}` is neither a duration (10m, 2h) nor an RFC 3339 time (2026-11-23T10:00:00Z)"
        )
    })
}

/// The time as milliseconds since the epoch (log line timestamps).
pub fn millis(when: Option<SystemTime>) -> Option<i64> {
    when.map(|t| {
        t.duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as i64
    })
}

/// The lines at or after `since` (all when `None`).
pub fn keep_since(lines: &[LogLine], since: Option<i64>) -> Vec<LogLine> {
    match since {
        None => lines.to_vec(),
        Some(ms) => lines
            .iter()
            .filter(|l| l.timestamp >= ms)
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(timestamp: i64) -> LogLine {
        LogLine {
            job: "run/a/job/0".into(),
            submission: "s".into(),
            offset: 0,
            timestamp,
            stream: "stdout".into(),
            text: timestamp.to_string(),
        }
    }

    #[test]
    fn durations_and_rfc3339_times_are_read() {
        let at = parse_since("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(millis(Some(at)), Some(1_795_428_000_000));
        let ago = parse_since("10m").unwrap();
        let expected = SystemTime::now() - Duration::from_secs(600);
        let diff = expected.duration_since(ago).unwrap_or_default();
        assert!(diff < Duration::from_secs(5), "{diff:?}");
        let err = parse_since("yesterday").unwrap_err();
        assert!(err.contains("neither a duration"), "{err}");
    }

    #[test]
    fn lines_before_since_are_dropped() {
        let lines = [line(1), line(5), line(9)];
        let kept: Vec<i64> = keep_since(&lines, Some(5))
            .iter()
            .map(|l| l.timestamp)
            .collect();
        assert_eq!(kept, [5, 9]);
        assert_eq!(keep_since(&lines, None).len(), 3);
    }
}
