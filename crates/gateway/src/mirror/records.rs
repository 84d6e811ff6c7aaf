//! The mirror's per-user record, as the store keeps it.

use callbridge_engine::presence::MirrorRecord;
use callbridge_model::UserRef;
use callbridge_store::{MirrorState, PresenceMirrorStore, SqlStore, StoreError};

/// The stored record of `target` (empty when never mirrored).
pub(super) async fn load(store: &SqlStore, target: &UserRef) -> Result<MirrorRecord, StoreError> {
    let state = store.mirror_state(target).await?;
    Ok(MirrorRecord {
        last_written: state.last_written,
        previous: state.previous,
        paused: state.paused,
        error_count: state.error_count,
    })
}

/// The record as the store keeps it.
pub(super) fn to_store(record: &MirrorRecord) -> MirrorState {
    MirrorState {
        last_written: record.last_written.clone(),
        previous: record.previous.clone(),
        last_sync: None,
        error_count: record.error_count,
        last_error: None,
        paused: record.paused,
    }
}
