//! The simulator's in-process network (`sim`): requests go straight to a
//! real `ServerStore`, through faults drawn from the schedule's seed (lost
//! requests and answers, duplicates, late pushes, busy, a killed app), and
//! every message makes a round trip through JSON as on the wire.
//!
//! A store error reaches the device as the real server would send it over
//! HTTP (its status for the error), classified by
//! the HTTP transport's own rule, so that a refusal the device must not
//! retry (an enrolment code refused, a household not found, a conflict) is
//! never mistaken for a transient failure, and a database that does not
//! answer is "busy", as over HTTP.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use doorstep_core::transport::{Transport, TransportError};
use doorstep_protocol::{
    EnrollRequest, EnrollResponse, PROTOCOL_VERSION, PullQuery, PullResponse, PushRequest,
    PushResponse, SnapshotRequest, SnapshotResponse,
};
use doorstep_server::ServerStore;
use doorstep_server::store::StoreError;
use rand::Rng;
use rand::rngs::StdRng;

/// A store error as the device would see it over HTTP.
pub fn server_error(error: StoreError) -> TransportError {
    let (status, message) = doorstep_server::error::status_of(error);
    TransportError::from_status(status, message, None)
}

/// How the network treats one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// The request never arrives.
    LoseRequest,
    /// The server handles it; the answer never arrives.
    LoseAnswer,
    /// The request arrives twice; the device sees the second answer.
    Twice,
    /// A push is held back and arrives later, after other requests.
    Late,
    /// 429 with Retry-After.
    Busy,
    /// The app is killed: the request may or may not have arrived.
    Kill,
}

/// The in-process network between devices and the server.
pub(crate) struct Network<'a> {
    pub(crate) server: &'a ServerStore,
    pub(crate) now: DateTime<Utc>,
    pub(crate) rng: &'a Mutex<StdRng>,
    pub(crate) online: bool,
    /// Chance of a fault per exchange.
    pub(crate) fault_rate: f64,
    pub(crate) held: &'a Mutex<Vec<(String, PushRequest)>>,
    pub(crate) faults: Mutex<u64>,
    pub(crate) killed: Mutex<bool>,
}

impl Network<'_> {
    fn draw(&self) -> Fault {
        let mut rng = lock(self.rng);
        if !rng.random_bool(self.fault_rate) {
            return Fault::None;
        }
        *lock(&self.faults) += 1;
        match rng.random_range(0..6) {
            0 => Fault::LoseRequest,
            1 => Fault::LoseAnswer,
            2 => Fault::Twice,
            3 => Fault::Late,
            4 => Fault::Busy,
            _ => Fault::Kill,
        }
    }

    /// One exchange through the faults. `late` holds a request for later.
    fn exchange<Q, A>(
        &self,
        request: &Q,
        handle: impl Fn(&Q) -> Result<A, StoreError>,
        late: Option<&dyn Fn()>,
    ) -> Result<A, TransportError>
    where
        Q: serde::Serialize + serde::de::DeserializeOwned,
        A: serde::Serialize + serde::de::DeserializeOwned,
    {
        if *lock(&self.killed) {
            return Err(TransportError::Interrupted("the app was killed".into()));
        }
        if !self.online {
            return Err(TransportError::Unreachable("no signal".into()));
        }
        // Through JSON, as on the wire.
        let request: Q = round_trip(request);
        let answer = |request: &Q| {
            handle(request)
                .map(|answer| round_trip(&answer))
                .map_err(server_error)
        };
        match self.draw() {
            Fault::None => answer(&request),
            Fault::LoseRequest => Err(TransportError::Interrupted("request lost".into())),
            Fault::LoseAnswer => {
                let _ = answer(&request);
                Err(TransportError::Interrupted("answer lost".into()))
            }
            Fault::Twice => {
                let _ = answer(&request);
                answer(&request)
            }
            Fault::Late => match late {
                Some(hold) => {
                    hold();
                    Err(TransportError::Interrupted("request delayed".into()))
                }
                None => Err(TransportError::Interrupted("request lost".into())),
            },
            Fault::Busy => Err(TransportError::Busy {
                retry_after: Some(std::time::Duration::from_secs(30)),
            }),
            Fault::Kill => {
                if lock(self.rng).random_bool(0.5) {
                    let _ = answer(&request);
                }
                *lock(&self.killed) = true;
                Err(TransportError::Interrupted("the app was killed".into()))
            }
        }
    }

    fn auth(&self, token: &str) -> Result<doorstep_server::store::DeviceAuth, StoreError> {
        self.server.authenticate(token, self.now)
    }
}

impl Transport for Network<'_> {
    fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, TransportError> {
        self.server
            .enroll(&request.code, None, request.attempt, None, self.now)
            .map_err(server_error)
    }

    fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError> {
        let hold = || lock(self.held).push((token.to_string(), request.clone()));
        self.exchange(
            request,
            |request| {
                let auth = self.auth(token)?;
                let (results, position) =
                    self.server.push(auth, &request.changes, None, self.now)?;
                Ok(PushResponse {
                    protocol: PROTOCOL_VERSION,
                    results,
                    position,
                    server_time: self.now,
                })
            },
            Some(&hold),
        )
    }

    fn pull(&self, token: &str, query: &PullQuery) -> Result<PullResponse, TransportError> {
        self.exchange(
            query,
            |query| self.server.pull(self.auth(token)?, query, self.now),
            None,
        )
    }

    fn snapshot(
        &self,
        token: &str,
        request: &SnapshotRequest,
    ) -> Result<SnapshotResponse, TransportError> {
        self.exchange(
            request,
            |request| {
                self.server.snapshot(
                    self.auth(token)?,
                    &request.households,
                    request.after,
                    self.now,
                )
            },
            None,
        )
    }
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    serde_json::to_vec(value)
        .and_then(|bytes| serde_json::from_slice(&bytes))
        .expect("a wire message survives JSON")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use doorstep_server::store::{DbError, DbErrorKind};

    use super::*;

    #[test]
    fn store_errors_become_what_http_would_make_of_them() {
        let kind = |error| match server_error(error) {
            TransportError::Unauthorized(_) => "unauthorized".to_string(),
            TransportError::Refused { status, .. } => format!("refused {status}"),
            TransportError::Busy { .. } => "busy".to_string(),
            TransportError::Server { status, .. } => format!("server {status}"),
            other => format!("{other:?}"),
        };
        assert_eq!(kind(StoreError::Unauthorized), "unauthorized");
        assert_eq!(kind(StoreError::Enroll("used".into())), "unauthorized");
        assert_eq!(kind(StoreError::Invalid("bad".into())), "refused 400");
        assert_eq!(kind(StoreError::NotFound("none".into())), "refused 404");
        assert_eq!(kind(StoreError::Conflict("taken".into())), "refused 409");
        assert_eq!(
            kind(StoreError::Database(DbError {
                kind: DbErrorKind::Unavailable,
                message: "connection refused".into(),
            })),
            "busy"
        );
        assert_eq!(
            kind(StoreError::Database(DbError {
                kind: DbErrorKind::Other,
                message: "disk I/O error".into(),
            })),
            "server 500"
        );
        // The simulator's transient faults stay transient; refusals do not.
        assert!(!server_error(StoreError::NotFound("none".into())).is_transient());
    }
}
