//! How the simulator's in-process network answers a store error: as the
//! real server would over HTTP (its status for the error), classified by
//! the HTTP transport's own rule, so that a refusal the device must not
//! retry (an enrolment code refused, a household not found, a conflict) is
//! never mistaken for a transient failure, and a database that does not
//! answer is "busy", as over HTTP.

use doorstep_core::transport::TransportError;
use doorstep_server::store::StoreError;

/// A store error as the device would see it over HTTP.
pub fn server_error(error: StoreError) -> TransportError {
    let (status, message) = doorstep_server::error::status_of(error);
    TransportError::from_status(status, message, None)
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
