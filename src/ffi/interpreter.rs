//! The switch that stops Rust from calling into the foreign language once its interpreter
//! is going away (set by `shutdown_all`, the foreign side's exit hook).

use std::sync::atomic::{AtomicBool, Ordering};

static FOREIGN_ALIVE: AtomicBool = AtomicBool::new(true);

/// False once `shutdown_all` ran: the interpreter is exiting and must not be entered.
pub fn alive() -> bool {
    FOREIGN_ALIVE.load(Ordering::Acquire)
}

pub fn mark_exiting() {
    FOREIGN_ALIVE.store(false, Ordering::Release);
}
