//! The operator's interruption (Ctrl-C): once requested, apply starts no new change; the changes
//! in flight, and their waits, finish. The command then says what was done and what was not, and
//! running it again finishes the job. Process-wide, set by the command line's signal handler.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static LEASE_LOST: AtomicBool = AtomicBool::new(false);

/// Ask the running command to stop starting new work.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether an interruption was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// The run lock's lease was lost (broken, or not renewed in time): stop starting work, as on
/// Ctrl-C, and say why.
pub fn lease_lost() {
    LEASE_LOST.store(true, Ordering::SeqCst);
    request();
}

/// Whether the stop was asked for because the run lock's lease was lost.
pub fn was_lease_lost() -> bool {
    LEASE_LOST.load(Ordering::SeqCst)
}

/// Forget an earlier interruption (a new command starts).
pub fn reset() {
    REQUESTED.store(false, Ordering::SeqCst);
    LEASE_LOST.store(false, Ordering::SeqCst);
}
