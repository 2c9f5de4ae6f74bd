//! The HTTP API under `/v1`: routes, the device-token extractor, the
//! limits every caller meets, and handlers that hand the blocking store
//! work to tokio's blocking pool.
//!
//! Every route is reachable by anyone on the network. Unauthenticated
//! requests (health, enrolment) take only small bodies, and enrolment
//! attempts and bad tokens are throttled per client address. Authenticated
//! requests are throttled per device. Refusals are logged and audited at a
//! bounded rate. The client address comes from the
//! `axum::extract::ConnectInfo<SocketAddr>` extension that the connection
//! layer (`crate::net`) puts on every request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use doorstep_protocol::limits::{
    MAX_ENROLL_BYTES, MAX_FILE_BYTES, MAX_REQUEST_BYTES, MAX_SNAPSHOT_REQUEST_BYTES,
};
use doorstep_protocol::{
    EnrollRequest, Health, PROTOCOL_VERSION, PullQuery, PushResponse, RetireRequest,
    RetireResponse, SnapshotRequest, routes,
};

use crate::enrol::EnrolSettings;
use crate::error::AppError;
use crate::store::{AuditEvent, AuditKind, DeviceAuth, ServerStore, StoreError};
use crate::throttle::{Buckets, Throttle, client_key};
use crate::wire::{AcceptColumns, AcceptZstd, WireJson, WirePush, WireResponse};
use tower::limit::ConcurrencyLimitLayer;

/// What every handler shares: the store and the rate limits. Holds no
/// data of its own, so several servers can stand behind one database (each
/// then limits on its own).
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<ServerStore>,
    pub throttle: Arc<Throttle>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<Vec<IpAddr>>,
    /// What the requests and pushes come to, for Prometheus.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What enrolment QR codes say besides the code.
    pub enrol: Arc<EnrolSettings>,
    /// Attached files: whole ones and uploads under way.
    pub files: crate::files::Files,
}

impl AppState {
    /// Files go in a directory `files` beside the database
    /// ([`crate::files::default_directory`]) unless set otherwise.
    pub fn new(store: Arc<ServerStore>) -> AppState {
        AppState {
            store: Arc::clone(&store),
            throttle: Arc::new(Throttle::default()),
            trusted_proxies: Arc::new(Vec::new()),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            enrol: Arc::new(EnrolSettings::default()),
            files: crate::files::Files::in_directory(&crate::files::default_directory(
                store.path(),
            )),
        }
    }
}

/// Pushes handled at once, body reading and decoding included.
const PUSHES_AT_ONCE: usize = 2;

/// A retire request is `{"protocol": 1}`.
const RETIRE_BYTES: usize = 1024;

/// The application, ready to serve.
pub fn router(state: AppState) -> Router {
    let metrics = Arc::clone(&state.metrics);
    Router::new()
        .merge(crate::console::routes())
        .merge(crate::api::routes())
        .route(routes::HEALTH, get(health))
        .route(
            routes::ENROLL,
            post(enroll).layer(DefaultBodyLimit::max(MAX_ENROLL_BYTES)),
        )
        // Pushes write one at a time anyway (one SQLite writer); more than a
        // couple decoding at once would only hold memory.
        .route(
            routes::PUSH,
            post(push).layer(ConcurrencyLimitLayer::new(PUSHES_AT_ONCE)),
        )
        .route(routes::PULL, get(pull))
        .route(
            routes::SNAPSHOT,
            post(snapshot).layer(DefaultBodyLimit::max(MAX_SNAPSHOT_REQUEST_BYTES)),
        )
        .route(
            routes::RETIRE,
            post(retire).layer(DefaultBodyLimit::max(RETIRE_BYTES)),
        )
        .route(
            routes::FILES_STATUS,
            post(crate::files::http::status).layer(DefaultBodyLimit::max(
                crate::files::http::STATUS_REQUEST_BYTES,
            )),
        )
        // An upload's body is read piece by piece and never held whole;
        // its own limit is the file's length (at most MAX_FILE_BYTES).
        .route(
            routes::FILE,
            get(crate::files::http::download)
                .patch(crate::files::http::upload)
                .layer(DefaultBodyLimit::max(
                    usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX),
                )),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
        .with_state(state)
}

/// Runs blocking store work off the async workers, inside the request's
/// span.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AppError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|error| AppError::Internal(format!("worker failed: {error}")))?
        .map_err(AppError::from)
}

pub(crate) fn check_protocol(found: u32) -> Result<(), AppError> {
    if found == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(AppError::Protocol {
            found,
            supported: PROTOCOL_VERSION,
        })
    }
}

/// How long the health check waits for the database.
const HEALTH_DATABASE_WAIT: Duration = Duration::from_secs(2);

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let store = Arc::clone(&state.store);
    let ping = tokio::task::spawn_blocking(move || store.ping());
    let reachable = matches!(
        tokio::time::timeout(HEALTH_DATABASE_WAIT, ping).await,
        Ok(Ok(Ok(())))
    );
    if !reachable {
        tracing::warn!("health check: the database is unreachable");
    }
    let (status, words) = if reachable {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        status,
        Json(Health {
            status: words.into(),
            protocol: PROTOCOL_VERSION,
            server_version: env!("CARGO_PKG_VERSION").into(),
            server_time: Utc::now(),
            database: Some(if reachable { "ok" } else { "unreachable" }.into()),
        }),
    )
}

#[tracing::instrument(skip_all)]
async fn enroll(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    accept: AcceptZstd,
    WireJson(request): WireJson<EnrollRequest, MAX_ENROLL_BYTES>,
) -> Result<WireResponse, AppError> {
    // Every attempt takes a token; a successful one gives it back, so only
    // refused attempts count against an address. Once they are used up,
    // every attempt from it waits (a right code included: guesses cannot
    // hide among real ones).
    let key = client.map_or(IpAddr::from([0, 0, 0, 0]), client_key);
    if let Err(retry_after) = state.throttle.enrol.take(&key, Instant::now()) {
        report_throttled(&state, client, "refused enrolment attempts").await;
        return Err(AppError::Throttled { retry_after });
    }
    check_protocol(request.protocol)?;
    let store = Arc::clone(&state.store);
    let result = blocking(move || {
        store.enroll(
            &request.code,
            request.device_label.as_deref(),
            request.attempt,
            client,
            Utc::now(),
        )
    })
    .await;
    match result {
        Ok(response) => {
            state.throttle.enrol.give_back(&key);
            tracing::info!(device = %response.device_id, cadre = %response.cadre_id, "device enrolled");
            WireResponse::new(accept, &response)
        }
        Err(error) => {
            if !matches!(error, AppError::Unauthorized(_)) {
                state.throttle.enrol.give_back(&key);
            } else if should_report(&state, client) {
                // A code nobody issued is not written to the database per
                // attempt (the store only reads): one line and one audit
                // entry a minute per address.
                tracing::warn!(client = ?client, %error, "enrolment refused (further refusals from this address are not logged for a minute)");
                let store = Arc::clone(&state.store);
                let event = AuditEvent::new(AuditKind::EnrolRefused)
                    .client(client)
                    .detail(error.to_string());
                let _ = blocking(move || store.note(Utc::now(), &event)).await;
            }
            Err(error)
        }
    }
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id, changes = request.changes.len()))]
async fn push(
    State(state): State<AppState>,
    Device(auth): Device,
    ClientAddr(client): ClientAddr,
    accept: AcceptZstd,
    columns: AcceptColumns,
    WirePush(request): WirePush,
) -> Result<WireResponse, AppError> {
    check_protocol(request.protocol)?;
    let now = Utc::now();
    let (results, position) = blocking(move || {
        let (results, position) = state.store.push(auth, &request.changes, client, now)?;
        let conflicts = if crate::metrics::edits_applied(&request.changes, &results) {
            state.store.conflicts_settled_by(auth.device_id, now)?
        } else {
            0
        };
        state
            .metrics
            .record_push(&request.changes, &results, conflicts);
        if let Some(pending) = request.pending {
            state.store.record_pending(auth.device_id, pending, now)?;
        }
        Ok((results, position))
    })
    .await?;
    tracing::info!(position, "push applied");
    WireResponse::push(
        accept,
        columns,
        &PushResponse {
            protocol: PROTOCOL_VERSION,
            results,
            position,
            server_time: now,
        },
    )
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id))]
async fn pull(
    State(state): State<AppState>,
    Device(auth): Device,
    accept: AcceptZstd,
    query: Result<Query<PullQuery>, QueryRejection>,
) -> Result<WireResponse, AppError> {
    let Query(query) = query.map_err(|rejection| {
        AppError::BadRequest(format!("bad pull query: {}", rejection.body_text()))
    })?;
    let response = blocking(move || {
        let now = Utc::now();
        if let Some(pending) = query.pending {
            state.store.record_pending(auth.device_id, pending, now)?;
        }
        state.store.pull(auth, &query, now)
    })
    .await?;
    WireResponse::new(accept, &response)
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id, households = request.households.len()))]
async fn snapshot(
    State(state): State<AppState>,
    Device(auth): Device,
    accept: AcceptZstd,
    WireJson(request): WireJson<SnapshotRequest, MAX_SNAPSHOT_REQUEST_BYTES>,
) -> Result<WireResponse, AppError> {
    check_protocol(request.protocol)?;
    let response = blocking(move || {
        state
            .store
            .snapshot(auth, &request.households, request.after, Utc::now())
    })
    .await?;
    WireResponse::new(accept, &response)
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id))]
async fn retire(
    State(state): State<AppState>,
    Device(auth): Device,
    ClientAddr(client): ClientAddr,
    accept: AcceptZstd,
    WireJson(request): WireJson<RetireRequest, RETIRE_BYTES>,
) -> Result<WireResponse, AppError> {
    check_protocol(request.protocol)?;
    let now = Utc::now();
    blocking(move || state.store.retire(auth, client, now)).await?;
    tracing::info!("device retired its token");
    WireResponse::new(
        accept,
        &RetireResponse {
            protocol: PROTOCOL_VERSION,
            device_id: auth.device_id,
            server_time: now,
        },
    )
}

async fn no_route() -> AppError {
    AppError::NotFound("no such route; the API lives under /v1".into())
}

async fn wrong_method() -> AppError {
    AppError::BadRequest("this route does not take that method".into())
}

/// Takes a token from `buckets` for the client's address, or refuses with
/// 429 and the wait. The first refusal of an address in a minute is logged
/// and audited.
async fn limit(
    state: &AppState,
    buckets: &Buckets<IpAddr>,
    client: Option<IpAddr>,
    what: &str,
) -> Result<(), AppError> {
    let key = client.map_or(IpAddr::from([0, 0, 0, 0]), client_key);
    let Err(retry_after) = buckets.take(&key, Instant::now()) else {
        return Ok(());
    };
    report_throttled(state, client, what).await;
    Err(AppError::Throttled { retry_after })
}

/// Logs and audits that a client was throttled, once a minute per address.
pub(crate) async fn report_throttled(state: &AppState, client: Option<IpAddr>, what: &str) {
    let key = client.map_or(IpAddr::from([0, 0, 0, 0]), client_key);
    if state
        .throttle
        .throttled_report
        .take(&key, Instant::now())
        .is_err()
    {
        return;
    }
    tracing::warn!(client = %key, what, "client throttled (not logged again for a minute)");
    let store = Arc::clone(&state.store);
    let event = AuditEvent::new(AuditKind::ClientThrottled)
        .client(client)
        .detail(what.to_string());
    let _ = blocking(move || store.note(Utc::now(), &event)).await;
}

/// Whether a refusal for this client is worth a log line now.
pub(crate) fn should_report(state: &AppState, client: Option<IpAddr>) -> bool {
    let key = client.map_or(IpAddr::from([0, 0, 0, 0]), client_key);
    state.throttle.report.take(&key, Instant::now()).is_ok()
}

/// The client's network address, when the connection layer gave it: the
/// peer, or behind a trusted reverse proxy the address it names.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(ClientAddr(peer.map(|peer| {
            client_behind(peer, &forwarded, &state.trusted_proxies)
        })))
    }
}

/// The client of a request from `peer`: the peer itself, unless it is a
/// trusted proxy; then the right-most address of `X-Forwarded-For` that is
/// not a trusted proxy (anything left of it the client could have written).
pub fn client_behind(peer: IpAddr, forwarded_for: &str, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    forwarded_for
        .rsplit(',')
        .map(str::trim)
        .map_while(|hop| hop.parse::<IpAddr>().ok())
        .find(|hop| !trusted.contains(hop))
        .unwrap_or(peer)
}

/// The device behind `Authorization: Bearer TOKEN`, within its rate.
#[derive(Debug, Clone, Copy)]
pub struct Device(pub DeviceAuth);

impl FromRequestParts<AppState> for Device {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        device_within(parts, state, &state.throttle.device)
            .await
            .map(Device)
    }
}

/// [`Device`] on the file routes, within the rate for files
/// ([`Throttle::files`](crate::throttle::Throttle::files)).
#[derive(Debug, Clone, Copy)]
pub struct FileDevice(pub DeviceAuth);

impl FromRequestParts<AppState> for FileDevice {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        device_within(parts, state, &state.throttle.files)
            .await
            .map(FileDevice)
    }
}

/// Authenticates the bearer token, then takes a token of `bucket`.
async fn device_within(
    parts: &mut Parts,
    state: &AppState,
    bucket: &crate::throttle::Buckets<uuid::Uuid>,
) -> Result<DeviceAuth, AppError> {
    let Ok(ClientAddr(client)) = ClientAddr::from_request_parts(parts, state).await;
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
        .filter(|token| !token.is_empty() && token.len() <= 256);
    let Some(token) = token else {
        limit(
            state,
            &state.throttle.bad_tokens,
            client,
            "requests without a token",
        )
        .await?;
        return Err(AppError::Unauthorized(
            "missing device token (Authorization: Bearer …)".into(),
        ));
    };
    let store = Arc::clone(&state.store);
    let auth = match blocking(move || store.authenticate(&token, Utc::now())).await {
        Ok(auth) => auth,
        Err(error) => {
            if matches!(error, AppError::Unauthorized(_)) {
                limit(state, &state.throttle.bad_tokens, client, "unknown tokens").await?;
            }
            return Err(error);
        }
    };
    if let Err(retry_after) = bucket.take(&auth.device_id, Instant::now()) {
        if should_report(state, client) {
            tracing::warn!(device = %auth.device_id, "device throttled (not logged again for a minute)");
        }
        return Err(AppError::Throttled {
            retry_after: retry_after.max(Duration::from_secs(1)),
        });
    }
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_address_it_names() {
        let proxy: IpAddr = "127.0.0.1".parse().expect("address");
        let client: IpAddr = "203.0.113.7".parse().expect("address");
        let trusted = [proxy];
        // Not behind a proxy: the header is the client's to write, ignored.
        assert_eq!(client_behind(client, "198.51.100.1", &trusted), client);
        // Behind it: the right-most untrusted hop, whatever the client
        // prepended.
        assert_eq!(
            client_behind(proxy, "198.51.100.1, 203.0.113.7", &trusted),
            client
        );
        assert_eq!(
            client_behind(proxy, "203.0.113.7, 127.0.0.1", &trusted),
            client
        );
        // Nothing usable: the proxy itself.
        assert_eq!(client_behind(proxy, "", &trusted), proxy);
        assert_eq!(client_behind(proxy, "not-an-address", &trusted), proxy);
        // No proxy trusted: the peer, always.
        assert_eq!(client_behind(proxy, "203.0.113.7", &[]), proxy);
    }
}
