//! Wire types and an async client for the moj judge server.
//!
//! The types are plain serde structs, usable without the client (`default-features = false`).
//! With the `client` feature (default), [`JudgeClient`] talks to a running server.

#[cfg(feature = "client")]
mod client;
mod types;

#[cfg(feature = "client")]
pub use client::{ClientError, JudgeClient, RetryPolicy};
pub use types::*;
