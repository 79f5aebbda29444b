//! `judge-server`: serve, migrate, check-config.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use judge_server::config::{Config, LogFormat};
use judge_server::server;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "judge-server",
    version,
    about = "moj judge server: batch scoring with a mixture of judges and a verdict cache"
)]
struct Cli {
    /// TOML config file (also MOJ_CONFIG). Environment variables override it.
    #[arg(long, short, global = true, env = "MOJ_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (applies migrations first unless database.migrate_on_start = false).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and every declared judge and task, print it (keys redacted), and exit.
    CheckConfig,
    /// Exit 0 when URL answers 200 within 3 s, else 1: the container healthcheck (the runtime
    /// image has no curl).
    Probe {
        #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
    },
}

fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// `GET url`: Ok when it answers 200 within 3 s.
async fn probe(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?;
    let status = client.get(url).send().await?.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Probe { url } = &cli.command {
        return probe(url).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    init_logging(config.server.log_format);
    match cli.command {
        Command::Serve => server::serve(config).await,
        Command::Migrate => {
            let db = server::open_database(&config, true).await?;
            println!("migrations applied ({})", db.backend());
            db.close().await;
            Ok(())
        }
        Command::CheckConfig => {
            server::check_auth_policy(&config)?;
            let db = judge_server::store::Database::connect(&config.database).await?;
            // The LLM backends are built (not called) so LLM judges and key variables are checked.
            let llm = judge_server::llm::Backends::from_config(&config.llm, |var| {
                std::env::var(var).ok()
            })?;
            let context = judge_server::judges::JudgeContext {
                llm: std::sync::Arc::new(llm),
                ..Default::default()
            };
            let catalog = judge_server::catalog::Catalog::new(&config, db, context)?;
            print!("{}", config.to_redacted_toml());
            println!(
                "# ok: {} judge(s) and {} task(s) declared in the config file",
                catalog.judge_count(),
                catalog.task_count()
            );
            Ok(())
        }
        Command::Probe { .. } => unreachable!("handled before the config is loaded"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
