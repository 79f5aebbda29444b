//! moj trainer: a Llama-family policy in Burn (model/, sampling, logprobs), the judge client
//! (judging), reward sources (rewards/), the CGPO optimizers (optim/), the training loop (train),
//! and the CPU-scale experiment (experiment/). See ARCHITECTURE.md.
//!
//! Public: what the binary, the benches and the tests use; the rest is the trainer's own.

mod checkpoint;
pub mod cli;
pub mod config;
mod data;
pub mod device;
pub mod experiment;
pub mod judge_process;
mod judging;
pub mod logprobs;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod optim;
mod plots;
pub mod pretrained;
mod progress;
pub mod rewards;
pub mod sampling;
mod sft;
pub mod tokenizer;
pub mod train;
