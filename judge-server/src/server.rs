//! Start-up and shutdown of `judge-server serve`: wires the database, cache, catalog and
//! API together, refuses unsafe auth set-ups, and drains requests on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::admission::Admission;
use crate::api::{self, App};
use crate::auth::Keys;
use crate::cache::{self, VerdictCache};
use crate::catalog::{self, Catalog};
use crate::config::Config;
use crate::judges::JudgeContext;
use crate::metrics::Metrics;
use crate::sandbox::Sandbox;
use crate::scoring::Scorer;
use crate::shutdown;
use crate::store::Database;

/// Refuses to serve without keys on a non-loopback address unless explicitly allowed.
pub fn check_auth_policy(config: &Config) -> anyhow::Result<()> {
    let addr = config.listen_addr()?;
    if config.auth.enabled() {
        if config.auth.admin_keys.is_empty() {
            tracing::warn!(
                "no admin keys (MOJ_ADMIN_KEYS): judges and tasks cannot be changed through the API"
            );
        }
        return Ok(());
    }
    if addr.ip().is_loopback() {
        tracing::warn!(%addr, "authentication is OFF (no MOJ_API_KEYS / MOJ_ADMIN_KEYS); serving on loopback only");
        return Ok(());
    }
    if config.auth.allow_unauthenticated {
        tracing::warn!(%addr, "authentication is OFF on a non-loopback address (MOJ_ALLOW_UNAUTHENTICATED=1): anyone who can reach it can score and change judges");
        return Ok(());
    }
    bail!(
        "refusing to listen on {addr} without authentication: set MOJ_API_KEYS and MOJ_ADMIN_KEYS, \
         listen on a loopback address, or set MOJ_ALLOW_UNAUTHENTICATED=1"
    )
}

/// Connects to the database and applies migrations.
pub async fn open_database(config: &Config, migrate: bool) -> anyhow::Result<Database> {
    let db = Database::connect(&config.database).await?;
    if migrate {
        db.migrate().await?;
    }
    Ok(db)
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    check_auth_policy(&config)?;
    let db = open_database(&config, config.database.migrate_on_start).await?;
    let metrics = Arc::new(Metrics::new());
    let verdict_cache = config.cache.enabled.then(|| {
        Arc::new(VerdictCache::new(
            &config.cache,
            db.clone(),
            Arc::clone(&metrics),
        ))
    });
    let sandbox = start_sandbox(&config, &db).await?;
    let llm = crate::llm::Backends::from_config(&config.llm, |var| std::env::var(var).ok())?;
    let context = JudgeContext {
        sandbox: Some(Arc::clone(&sandbox)),
        llm: Arc::new(llm),
    };
    let catalog = Arc::new(Catalog::new(&config, db.clone(), context)?);
    if let Err(error) = catalog.refresh().await {
        tracing::warn!(%error, "could not load judges and tasks from the database; serving the config file's until it answers");
    }
    let app = Arc::new(App {
        scorer: Scorer::new(
            verdict_cache.clone(),
            Arc::clone(&metrics),
            Duration::from_millis(config.limits.judge_timeout_ms),
        ),
        admission: Admission::new(&config.limits, Arc::clone(&metrics)),
        keys: Keys::new(&config.auth),
        catalog: Arc::clone(&catalog),
        sandbox,
        db: db.clone(),
        metrics,
        config: config.clone(),
    });

    let addr = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    let (trigger, stop) = shutdown::channel();
    catalog::spawn_refresher(
        Arc::clone(&catalog),
        Duration::from_secs(config.server.catalog_refresh_secs),
        stop.clone(),
    );
    if let Some(verdict_cache) = &verdict_cache {
        cache::spawn_pruner(Arc::clone(verdict_cache), &config.cache, stop.clone());
    }
    tracing::info!(
        %bound,
        database = db.backend(),
        judges = catalog.judge_count(),
        tasks = catalog.task_count(),
        cache = config.cache.enabled,
        "judge-server ready"
    );
    // A stable, machine-readable line for scripts and tests (logs go to stderr).
    println!("judge-server listening on http://{bound}");

    let server = crate::connection::serve(
        listener,
        api::router(app),
        crate::connection::Deadlines {
            header_read: Duration::from_millis(config.limits.header_read_timeout_ms),
            response_write: Duration::from_millis(config.limits.response_write_timeout_ms),
        },
        stop.clone(),
    );
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    if run_until_signal(tokio::spawn(server), trigger, grace).await? {
        db.close().await;
        tracing::info!("judge-server stopped");
    }
    Ok(())
}

/// The sandbox, started off the async workers (compiling its runtimes takes a while), with
/// judge plugins not loaded in this process yet read from the database.
async fn start_sandbox(config: &Config, db: &Database) -> anyhow::Result<Arc<Sandbox>> {
    let sandbox_config = config.sandbox.clone();
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(&sandbox_config))
        .await
        .context("starting the sandbox")?
        .map_err(|e| anyhow::anyhow!(e))?;
    let sandbox = Arc::new(sandbox.0);
    let plugin_db = db.clone();
    sandbox.set_plugin_source(Arc::new(move |sha256: String| {
        let db = plugin_db.clone();
        Box::pin(async move { db.plugin_module(&sha256).await.map_err(|e| e.to_string()) })
    }));
    Ok(sandbox)
}

/// Serves until the server ends by itself (`false`) or an OS signal asks to stop (`true`):
/// then `trigger` tells the connections, and requests in flight get `grace` to finish.
async fn run_until_signal(
    mut server: tokio::task::JoinHandle<()>,
    trigger: shutdown::ShutdownTrigger,
    grace: Duration,
) -> anyhow::Result<bool> {
    tokio::select! {
        finished = &mut server => {
            finished.context("server task")?;
            return Ok(false);
        }
        _ = shutdown::os_signal() => {}
    }
    trigger.trigger();
    match tokio::time::timeout(grace, &mut server).await {
        Ok(finished) => finished.context("server task")?,
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "in-flight requests did not finish within the grace period; closing them"
            );
            server.abort();
        }
    }
    Ok(true)
}
