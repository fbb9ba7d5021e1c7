//! The replay engine's foreign half: one orchestration generator driven through the
//! core's replay engine, turn after turn.
//!
//! - `driver`: the future the engine polls each turn; advances the generator eagerly.
//! - `generator`: a foreign generator as Rust holds it, and the `OrchestrationStepper`
//!   callback that steps it.
//! - `context`: the non-yielding context calls (custom status, KV, traces).
//! - `tasks` (what a generator yields) → `schedule` (the durable futures they become) →
//!   `combinators` (`all`/`race`) → `outcome` (results on their way back).
//! - `trace`, `replay_cache`, `parked`: what a generator did, the LRU of suspended ones,
//!   and the note that admits one into the cache once its turn committed.
//! - `nondeterminism`, `verify`: failure messages that name the user's line, and the
//!   determinism checks that keep the replay cache honest.

pub mod combinators;
pub mod context;
pub mod driver;
pub mod generator;
pub mod nondeterminism;
pub mod outcome;
pub mod parked;
pub mod replay_cache;
pub mod schedule;
pub mod tasks;
pub mod trace;
pub mod verify;
