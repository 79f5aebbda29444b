use anyhow::Result;
use clap::Parser;

fn main() -> Result<()> {
    moj_trainer::cli::Cli::parse().run()
}
