//! moj trainer: a Llama-family policy in Burn (model/, sampling, logprobs), the judge client
//! (judging), reward sources (rewards/), the CGPO optimizers (optim/), the training loop (train),
//! and the CPU-scale experiment (experiment/). See ARCHITECTURE.md.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod experiment;
pub mod judge_process;
pub mod judging;
pub mod logprobs;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod plots;
pub mod pretrained;
pub mod progress;
pub mod rewards;
pub mod sampling;
pub mod sft;
pub mod tokenizer;
pub mod train;
