//! The fake cloud's file: an append-only journal of JSON lines, so a call
//! costs what it changed, not the whole cloud (10,000 creates used to
//! rewrite a growing file 20,000 times).
//!
//! Every line is a [`Patch`]: the counters in full and the resources and
//! tokens a call touched. The cloud is the fold of its lines; a compacted
//! file starts with one line holding everything. A file from before the
//! journal (one JSON object, no newline) reads as that one line. Callers
//! hold the file lock around [`Journal::sync`] .. [`Journal::append`], so
//! several processes share one file; each keeps its fold in memory and
//! reads only the lines others appended since. A compaction (by any
//! process) bumps the generation kept in the lock file, and a process that
//! sees a generation other than its own reads the file whole: inode numbers
//! are reused, so they cannot tell two compacted files apart.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::provider::ResourceInfo;

/// The fake cloud's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Cloud {
    pub next_id: u64,
    pub resources: BTreeMap<String, ResourceInfo>,
    /// Idempotency token → resource id (creates look here, not through all).
    pub tokens: BTreeMap<String, String>,
    pub failures_used: BTreeMap<usize, u32>,
    pub calls: BTreeMap<String, u64>,
    /// Resources and tokens changed since the last append.
    #[serde(skip)]
    dirty: Dirty,
}

#[derive(Debug, Default)]
struct Dirty {
    resources: BTreeSet<String>,
    tokens: BTreeSet<String>,
}

impl Cloud {
    /// A resource to change (recorded in the next line).
    pub fn resource_mut(&mut self, id: &str) -> Option<&mut ResourceInfo> {
        let found = self.resources.get_mut(id)?;
        self.dirty.resources.insert(id.to_string());
        Some(found)
    }

    /// Adds (or replaces) a resource.
    pub fn insert_resource(&mut self, info: ResourceInfo) {
        self.dirty.resources.insert(info.provider_id.clone());
        self.resources.insert(info.provider_id.clone(), info);
    }

    /// Points an idempotency token at a resource.
    pub fn insert_token(&mut self, token: &str, id: &str) {
        self.dirty.tokens.insert(token.to_string());
        self.tokens.insert(token.to_string(), id.to_string());
    }

    fn apply(&mut self, patch: Cloud) {
        self.next_id = patch.next_id;
        self.resources.extend(patch.resources);
        self.tokens.extend(patch.tokens);
        self.failures_used = patch.failures_used;
        self.calls = patch.calls;
    }

    /// The line for what changed since the last one (and forgets it).
    fn take_patch(&mut self) -> Patch<'_> {
        let dirty = std::mem::take(&mut self.dirty);
        Patch {
            next_id: self.next_id,
            resources: dirty
                .resources
                .into_iter()
                .filter_map(|id| self.resources.get_key_value(&id))
                .collect(),
            tokens: dirty
                .tokens
                .into_iter()
                .filter_map(|t| self.tokens.get_key_value(&t))
                .collect(),
            failures_used: &self.failures_used,
            calls: &self.calls,
        }
    }
}

/// One line: the shape of [`Cloud`], with only what changed in the maps.
#[derive(Serialize)]
struct Patch<'a> {
    next_id: u64,
    resources: BTreeMap<&'a String, &'a ResourceInfo>,
    tokens: BTreeMap<&'a String, &'a String>,
    failures_used: &'a BTreeMap<usize, u32>,
    calls: &'a BTreeMap<String, u64>,
}

/// Where this process is in the file: its inode and the bytes folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    generation: u64,
    inode: u64,
    len: u64,
    lines: u64,
}

/// A journal file and this process's fold of it.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    position: Option<Position>,
}

/// Why the file could not be used: what was being done, and the error.
pub(crate) type JournalError = (&'static str, String);

impl Journal {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            position: None,
        }
    }

    /// Brings `cloud` up to date with the file (the caller holds the lock).
    pub fn sync(&mut self, cloud: &mut Cloud, lock: &File) -> Result<(), JournalError> {
        let generation = generation(lock)?;
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                *cloud = Cloud::default();
                self.position = None;
                return Ok(());
            }
            Err(e) => return Err(("read", e.to_string())),
        };
        let meta = file.metadata().map_err(|e| ("read", e.to_string()))?;
        let from = match self.position {
            Some(p)
                if p.generation == generation && p.inode == meta.ino() && p.len <= meta.len() =>
            {
                p
            }
            _ => {
                *cloud = Cloud::default();
                Position {
                    generation,
                    inode: meta.ino(),
                    len: 0,
                    lines: 0,
                }
            }
        };
        file.seek(SeekFrom::Start(from.len))
            .map_err(|e| ("read", e.to_string()))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| ("read", e.to_string()))?;
        let (folded, lines, unterminated) = fold(cloud, &text)?;
        let mut len = from.len + folded as u64;
        if unterminated {
            // A file from before the journal: end its line so appends start anew.
            let mut f = OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(|e| ("repair", e.to_string()))?;
            f.write_all(b"\n").map_err(|e| ("repair", e.to_string()))?;
            len += 1;
        } else if folded < text.len() {
            // A line cut short by a killed writer: never applied, dropped.
            let keep = from.len + folded as u64;
            let f = OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(|e| ("repair", e.to_string()))?;
            f.set_len(keep).map_err(|e| ("repair", e.to_string()))?;
        }
        self.position = Some(Position {
            generation,
            inode: meta.ino(),
            len,
            lines: from.lines + lines,
        });
        Ok(())
    }

    /// Appends what changed since the last append, compacting the file into
    /// one line when the journal has grown well past the cloud's size.
    pub fn append(&mut self, cloud: &mut Cloud, lock: &File) -> Result<(), JournalError> {
        let position = self.position.unwrap_or(Position {
            generation: generation(lock)?,
            inode: 0,
            len: 0,
            lines: 0,
        });
        if position.lines > 4 * (cloud.resources.len() as u64 + 256) {
            cloud.dirty = Dirty::default();
            return self.compact(cloud, lock, position.generation + 1);
        }
        let mut line =
            serde_json::to_string(&cloud.take_patch()).map_err(|e| ("encode", e.to_string()))?;
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| ("write", e.to_string()))?;
        let before = file.metadata().map_err(|e| ("write", e.to_string()))?;
        if before.len() > position.len
            || (self.position.is_some() && before.ino() != position.inode)
        {
            return Err((
                "write",
                "changed by another process without its lock".into(),
            ));
        }
        file.write_all(line.as_bytes())
            .map_err(|e| ("write", e.to_string()))?;
        self.position = Some(Position {
            generation: position.generation,
            inode: before.ino(),
            len: before.len() + line.len() as u64,
            lines: position.lines + 1,
        });
        Ok(())
    }

    /// Replaces the file with one line holding the whole cloud.
    fn compact(&mut self, cloud: &Cloud, lock: &File, generation: u64) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(cloud).map_err(|e| ("encode", e.to_string()))?;
        line.push('\n');
        // Bumped first: a crash before the rename only costs others a full read.
        set_generation(lock, generation)?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, &line).map_err(|e| ("write", e.to_string()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| ("rename", e.to_string()))?;
        let meta = std::fs::metadata(&self.path).map_err(|e| ("write", e.to_string()))?;
        self.position = Some(Position {
            generation,
            inode: meta.ino(),
            len: meta.len(),
            lines: 1,
        });
        Ok(())
    }
}

/// The compaction generation the lock file holds (0 when empty).
fn generation(mut lock: &File) -> Result<u64, JournalError> {
    let mut text = String::new();
    lock.seek(SeekFrom::Start(0))
        .and_then(|_| lock.read_to_string(&mut text))
        .map_err(|e| ("lock", e.to_string()))?;
    Ok(text.trim().parse().unwrap_or(0))
}

fn set_generation(mut lock: &File, generation: u64) -> Result<(), JournalError> {
    lock.set_len(0)
        .and_then(|_| lock.seek(SeekFrom::Start(0)))
        .and_then(|_| lock.write_all(generation.to_string().as_bytes()))
        .map_err(|e| ("lock", e.to_string()))
}

/// Applies every whole line of `text` to `cloud`: (bytes used, lines, whether
/// the last used line lacks its newline). A last line without its newline
/// counts when it parses (a file from before the journal) and is left out
/// otherwise (a write cut short).
fn fold(cloud: &mut Cloud, text: &str) -> Result<(usize, u64, bool), JournalError> {
    let mut used = 0;
    let mut lines = 0;
    let mut unterminated = false;
    for line in text.split_inclusive('\n') {
        let whole = line.ends_with('\n');
        let body = line.trim_end_matches('\n');
        if body.trim().is_empty() {
            used += line.len();
            continue;
        }
        match serde_json::from_str::<Cloud>(body) {
            Ok(patch) => cloud.apply(patch),
            Err(_) if !whole => break,
            Err(e) => return Err(("parse", format!("line {}: {e}", lines + 1))),
        }
        used += line.len();
        lines += 1;
        if !whole {
            unterminated = true;
            break;
        }
    }
    Ok((used, lines, unterminated))
}

/// The cloud a journal file holds, as one JSON document (tests read it).
pub(crate) fn read_document(path: &Path) -> Result<serde_json::Value, JournalError> {
    let mut cloud = Cloud::default();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            fold(&mut cloud, &text)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(("read", e.to_string())),
    }
    serde_json::to_value(&cloud).map_err(|e| ("encode", e.to_string()))
}
