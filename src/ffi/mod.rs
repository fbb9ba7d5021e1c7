//! What every part of the crate uses to cross the boundary: the one error type, the
//! shared tokio runtime behind blocking calls, the interpreter-alive switch and the
//! routing of Rust logs to the foreign side.

pub mod error;
pub mod executor;
pub mod interpreter;
pub mod logging;
