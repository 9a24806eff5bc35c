//! Copies of the state: a consistent snapshot (`VACUUM INTO`, which reads
//! every page, so a damaged file fails here instead of being copied)
//! written beside the target and renamed over it, so the previous copy
//! stays whole until the new one is.

use std::path::Path;

use super::store::{SqliteStore, random_id};
use crate::store::StateError;

impl SqliteStore {
    /// Writes a consistent copy of the state to `dest` (replacing it only
    /// once the copy is complete and on disk).
    pub fn backup_to(&self, dest: &Path) -> Result<(), StateError> {
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .map_or("backup".into(), |n| n.to_string_lossy());
        let temp = dir.join(format!(".{name}.{}.new", random_id(6)));
        let copied = self
            .run(|conn| {
                conn.execute("VACUUM INTO ?1", [temp.to_string_lossy()])?;
                Ok(())
            })
            .and_then(|()| {
                std::fs::File::open(&temp)?.sync_all()?;
                std::fs::rename(&temp, dest)?;
                Ok(())
            });
        if copied.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        copied?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Expected, RecordedResource};
    use crate::store::ResourceStore;

    #[test]
    fn a_backup_is_a_whole_state_and_a_failed_one_keeps_the_last() {
        let scratch = crate::sqlite::scratch::TempDb::new();
        let path = scratch.to_path_buf();
        let dir = path.parent().expect("dir").to_path_buf();
        let backup = dir.join("state.db.backup");
        let store = SqliteStore::open(&path).expect("create");
        let row = RecordedResource::new(
            "volume/v".parse().expect("addr"),
            serde_json::json!({}),
            "fp".into(),
        );
        store.put(&row, Expected::Absent).expect("put");
        store.backup_to(&backup).expect("backup");
        let copy = SqliteStore::open(&backup).expect("backup opens as state");
        assert_eq!(copy.list().expect("list").len(), 1);
        assert_eq!(
            copy.lineage().expect("lineage"),
            store.lineage().expect("lineage")
        );
        drop(copy);
        let good = std::fs::read(&backup).expect("backup");
        // Damage the state's pages: the backup fails and the last one stays.
        drop(store);
        let mut bytes = std::fs::read(&path).expect("state");
        for b in &mut bytes[4096..] {
            *b = 0x5a;
        }
        std::fs::write(&path, &bytes).expect("damage");
        let err = SqliteStore::open(&path)
            .and_then(|s| s.backup_to(&backup))
            .expect_err("a damaged state is not backed up");
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&backup).expect("backup"), good);
    }
}
