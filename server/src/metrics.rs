//! Prometheus metrics, served on a listener of their own
//! (`doorstep serve --metrics ADDR`, see `crate::serve_metrics`) so that
//! they can stay on a private address: they need no token.
//!
//! - `doorstep_http_requests_total{method,route,status}`: every request
//!   the application answered, by its route's template
//!   (`/admin/v1/devices/{id}/revoke`, never the path with its ids;
//!   `unmatched` for no route) and method (`other` for anything
//!   unusual), so an attacker cannot grow the label sets;
//! - `doorstep_sync_push_seconds`, `doorstep_sync_pull_seconds`: how long
//!   pushes and pulls take, from the request's head to the response's,
//!   body included;
//! - `doorstep_visits_applied_total`, `doorstep_changes_rejected_total{code}`
//!   and `doorstep_conflicts_total`: what pushes did.
//!
//! Labels carry templates, methods, status codes and reject codes only:
//! never an id, a name or an answer.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use doorstep_protocol::{Change, ChangeResult, Mutation, Outcome, routes};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument;

/// The labels of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// The label of a refused change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RejectLabels {
    code: &'static str,
}

/// The server's metrics, shared by the application (which records) and
/// the metrics listener (which reads).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    push_seconds: Histogram,
    pull_seconds: Histogram,
    visits_applied: Counter,
    rejected: Family<RejectLabels, Counter>,
    conflicts: Counter,
    file_bytes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Sync latencies from 5 ms to about 40 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let push_seconds = latency_histogram();
        let pull_seconds = latency_histogram();
        let visits_applied = Counter::default();
        let rejected = Family::<RejectLabels, Counter>::default();
        let conflicts = Counter::default();
        let file_bytes = Counter::default();
        registry.register(
            "doorstep_http_requests",
            "Requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "doorstep_sync_push_seconds",
            "Time to answer a device's push, body included",
            push_seconds.clone(),
        );
        registry.register(
            "doorstep_sync_pull_seconds",
            "Time to answer a device's pull",
            pull_seconds.clone(),
        );
        registry.register(
            "doorstep_visits_applied",
            "Visits stored from devices' pushes (not counting duplicates)",
            visits_applied.clone(),
        );
        registry.register(
            "doorstep_changes_rejected",
            "Changes of devices' pushes refused, by reject code",
            rejected.clone(),
        );
        registry.register(
            "doorstep_conflicts",
            "Same-field conflicts settled by the merge of devices' household edits",
            conflicts.clone(),
        );
        registry.register(
            "doorstep_file_bytes_received",
            "Bytes of attached files received from devices and kept (partial uploads included)",
            file_bytes.clone(),
        );
        Metrics {
            file_bytes,
            registry,
            requests,
            push_seconds,
            pull_seconds,
            visits_applied,
            rejected,
            conflicts,
        }
    }

    /// Counts bytes of an attached file kept from an upload.
    pub fn record_file_bytes(&self, bytes: u64) {
        self.file_bytes.inc_by(bytes);
    }

    /// Counts an answered request; times it when it was a push or a pull.
    pub fn record_request(
        &self,
        method: &Method,
        route: Option<&str>,
        status: StatusCode,
        seconds: f64,
    ) {
        let method = match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::DELETE => "DELETE",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        match route {
            Some(routes::PUSH) => self.push_seconds.observe(seconds),
            Some(routes::PULL) => self.pull_seconds.observe(seconds),
            _ => {}
        }
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.unwrap_or("unmatched").to_owned(),
                status: status.as_u16(),
            })
            .inc();
    }

    /// Counts what a push did: the visits it stored, the changes it
    /// refused, the conflicts its edits settled.
    pub fn record_push(&self, changes: &[Change], results: &[ChangeResult], conflicts: u64) {
        for (change, result) in changes.iter().zip(results) {
            match &result.outcome {
                Outcome::Applied if matches!(change.mutation, Mutation::Visit(_)) => {
                    self.visits_applied.inc();
                }
                Outcome::Rejected { code, .. } => {
                    self.rejected
                        .get_or_create(&RejectLabels {
                            code: code.as_str(),
                        })
                        .inc();
                }
                _ => {}
            }
        }
        self.conflicts.inc_by(conflicts);
    }

    /// The metrics in Prometheus's text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Whether a push may have settled conflicts: it applied a household edit.
pub fn edits_applied(changes: &[Change], results: &[ChangeResult]) -> bool {
    changes.iter().zip(results).any(|(change, result)| {
        matches!(change.mutation, Mutation::Household(_))
            && matches!(result.outcome, Outcome::Applied)
    })
}

/// The application's middleware that counts every request by its route's
/// template (`axum::middleware::from_fn_with_state`), inside a `request`
/// span named by the method and the route's template: never the path
/// itself or its query, which may carry a search (a name) or an id-card
/// suffix. Handlers add ids (device, file) to their own spans within it.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = route.as_deref().unwrap_or("unmatched"),
        status = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    metrics.record_request(
        &method,
        route.as_deref(),
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The metrics listener's application: `GET /metrics`, nothing else.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_template_and_odd_methods_fold_together() {
        let metrics = Metrics::new();
        let route = Some("/admin/v1/devices/{id}/revoke");
        metrics.record_request(&Method::POST, route, StatusCode::OK, 0.01);
        metrics.record_request(&Method::POST, route, StatusCode::OK, 0.01);
        let odd = Method::from_bytes(b"BREW").expect("a method");
        metrics.record_request(&odd, None, StatusCode::NOT_FOUND, 0.0);
        metrics.record_request(&Method::GET, Some(routes::PULL), StatusCode::OK, 0.2);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"doorstep_http_requests_total{method="POST",route="/admin/v1/devices/{id}/revoke",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"doorstep_http_requests_total{method="other",route="unmatched",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("doorstep_sync_pull_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("doorstep_sync_push_seconds_count 0"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE doorstep_conflicts_total counter"),
            "{text}"
        );
    }
}
