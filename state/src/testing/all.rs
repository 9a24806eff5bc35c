//! Every suite against one store, and the stores this crate ships run
//! through all of them.

use crate::store::StateStore;

/// Runs every suite against `store` (which must start empty).
pub fn conformance(store: &dyn StateStore) {
    super::resources::conformance(store);
    super::journal::conformance(store);
    super::journal::history_conformance(store);
    super::journal::record_and_close_conformance(store);
    super::lock::conformance(store);
    super::logs::conformance(store);
    super::workflows::conformance(store);
}

#[cfg(test)]
mod tests {
    use super::conformance;
    use crate::mem::MemStore;
    use crate::sqlite::SqliteStore;
    use crate::store::ResourceStore;

    /// Each suite on its own against each store, so a failure names the
    /// trait and the store.
    macro_rules! suite {
        ($name:ident, $suite:path) => {
            mod $name {
                use super::*;

                #[test]
                fn mem() {
                    $suite(&MemStore::new());
                }

                #[test]
                fn sqlite() {
                    $suite(&SqliteStore::open_in_memory().expect("open"));
                }
            }
        };
    }

    suite!(resources, crate::testing::resources::conformance);
    suite!(journal, crate::testing::journal::conformance);
    suite!(history, crate::testing::journal::history_conformance);
    suite!(
        record_and_close,
        crate::testing::journal::record_and_close_conformance
    );
    suite!(lock, crate::testing::lock::conformance);
    suite!(logs, crate::testing::logs::conformance);
    suite!(workflows, crate::testing::workflows::conformance);

    #[test]
    fn mem_store_conforms() {
        conformance(&MemStore::new());
    }

    #[test]
    fn sqlite_file_store_conforms_and_reopens() {
        let scratch = crate::sqlite::scratch::TempDb::new();
        let path = scratch.to_path_buf();
        let store = SqliteStore::open(&path).expect("open");
        conformance(&store);
        let lineage = store.lineage().expect("lineage");
        drop(store);
        let again = SqliteStore::open(&path).expect("reopen");
        assert_eq!(again.lineage().expect("lineage"), lineage);
    }
}
