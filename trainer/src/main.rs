use anyhow::Result;
use clap::Parser;

fn main() -> Result<()> {
    moj_trainer::memory::keep_freed_memory();
    moj_trainer::cli::Cli::parse().run()
}
