//! moj judge server: scores (prompt, response, metadata) batches with a mixture of judges
//! and caches every verdict. See ARCHITECTURE.md for the map.

pub mod admission;
pub mod api;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod client;
pub mod config;
pub mod connection;
pub mod judges;
pub mod llm;
pub mod metrics;
pub mod sandbox;
pub mod scoring;
pub mod server;
pub mod shutdown;
pub mod store;
