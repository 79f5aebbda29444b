//! Prometheus metrics, served as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use judge_api::Verdict;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub judge: String,
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JudgeLabels {
    pub judge: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeniedLabels {
    /// `unauthenticated` (no valid key) or `forbidden` (a scorer key on an admin endpoint).
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunCodeLabels {
    pub language: &'static str,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

fn latency_histogram() -> Histogram {
    // 10 µs .. ~84 s
    Histogram::new(exponential_buckets(1e-5, 2.0, 24))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RouteLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub items: Counter,
    pub verdicts: Family<VerdictLabels, Counter>,
    pub judge_duration: Family<JudgeLabels, Histogram, fn() -> Histogram>,
    pub cache_lookups: Family<OutcomeLabels, Counter>,
    pub cache_errors: Family<OperationLabels, Counter>,
    pub cache_pruned: Counter,
    pub queue_depth: Gauge,
    pub batches_in_flight: Gauge,
    pub rejected_busy: Counter,
    /// Sandbox runs executing now (set when `/metrics` is read).
    pub sandbox_runs_running: Gauge,
    /// Sandbox runs waiting for a worker (set when `/metrics` is read).
    pub sandbox_runs_queued: Gauge,
    /// `POST /run_code` runs by language and SandboxFusion status.
    pub run_code: Family<RunCodeLabels, Counter>,
    /// Requests refused by the key check (counted here only: `http_requests` records requests
    /// that passed it, so clients without a key move no per-route series).
    pub http_denied: Family<DeniedLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("moj");
        let metrics = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            items: Counter::default(),
            verdicts: Family::default(),
            judge_duration: Family::new_with_constructor(latency_histogram),
            cache_lookups: Family::default(),
            cache_errors: Family::default(),
            cache_pruned: Counter::default(),
            queue_depth: Gauge::default(),
            batches_in_flight: Gauge::default(),
            rejected_busy: Counter::default(),
            sandbox_runs_running: Gauge::default(),
            sandbox_runs_queued: Gauge::default(),
            run_code: Family::default(),
            http_denied: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route and status (requests refused by the key check are in http_denied)",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and status",
            metrics.http_duration.clone(),
        );
        registry.register(
            "http_denied",
            "Requests refused by the key check, by reason (unauthenticated, forbidden)",
            metrics.http_denied.clone(),
        );
        registry.register(
            "run_code",
            "POST /run_code runs by language and status (Success, Failed, SandboxError)",
            metrics.run_code.clone(),
        );
        registry.register(
            "items_scored",
            "Items received for scoring",
            metrics.items.clone(),
        );
        registry.register(
            "verdicts",
            "Per-judge verdicts by judge and outcome (cache hits included)",
            metrics.verdicts.clone(),
        );
        registry.register(
            "judge_duration_seconds",
            "Time a judge spent per item (cache misses only)",
            metrics.judge_duration.clone(),
        );
        registry.register(
            "cache_lookups",
            "Verdict cache lookups by outcome (hit, miss)",
            metrics.cache_lookups.clone(),
        );
        registry.register(
            "cache_errors",
            "Verdict cache operations that failed (the batch went on without the cache)",
            metrics.cache_errors.clone(),
        );
        registry.register(
            "cache_pruned",
            "Cached verdicts deleted by retention",
            metrics.cache_pruned.clone(),
        );
        registry.register(
            "queue_depth",
            "Batches waiting for a scoring slot",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "batches_in_flight",
            "Batches being scored",
            metrics.batches_in_flight.clone(),
        );
        registry.register(
            "sandbox_runs_running",
            "Sandbox runs executing (a dropped request's runs stop)",
            metrics.sandbox_runs_running.clone(),
        );
        registry.register(
            "sandbox_runs_queued",
            "Sandbox runs waiting for a worker",
            metrics.sandbox_runs_queued.clone(),
        );
        registry.register(
            "rejected_busy",
            "Requests refused with 503 because the queue was full",
            metrics.rejected_busy.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    pub fn record_verdict(&self, judge: &str, verdict: Verdict) {
        self.verdicts
            .get_or_create(&VerdictLabels {
                judge: judge.to_owned(),
                verdict: verdict.as_str(),
            })
            .inc();
    }

    pub fn record_judge_time(&self, judge: &str, micros: u64) {
        self.judge_duration
            .get_or_create(&JudgeLabels {
                judge: judge.to_owned(),
            })
            .observe(micros as f64 / 1e6);
    }

    pub fn cache_error(&self, operation: &'static str) {
        self.cache_errors
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
