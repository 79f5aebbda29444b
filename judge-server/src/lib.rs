//! moj judge server: scores (prompt, response, metadata) batches with a mixture of judges
//! and caches every verdict. See ARCHITECTURE.md for the map.
//!
//! Public: what the binary, the benches and the tests use (configuration, the server, the
//! store, the judges and their catalog, the sandbox); the rest is the server's own.

mod admission;
mod api;
mod auth;
mod cache;
pub mod catalog;
mod client;
pub mod config;
mod connection;
pub mod judges;
pub mod llm;
mod metrics;
pub mod sandbox;
mod scoring;
pub mod server;
mod shutdown;
pub mod store;
