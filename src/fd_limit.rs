//! Watching or serving many clusters opens many sockets: the soft open-files limit is
//! raised at start.

/// Raises the soft open-files limit to `wanted` (or as far as the hard limit allows).
pub fn raise(wanted: usize) {
    match rlimit::increase_nofile_limit(wanted as u64) {
        Ok(limit) if (limit as usize) < wanted => {
            tracing::warn!(limit, wanted, "the open-files limit is lower than the fleet needs");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
    }
}
