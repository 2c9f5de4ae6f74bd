//! A device's enrolment and its end: trading a one-time code (typed in, or
//! scanned from a QR code) for an identity, and wiping the store when the
//! phone goes to another cadre.

#[cfg(feature = "http")]
use doorstep_protocol::EnrolQr;
use doorstep_protocol::{EnrollRequest, EnrollResponse, PROTOCOL_VERSION, RetireRequest};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::DeviceIdentity;
use crate::store::{Store, Unsynced};
use crate::transport::{Endpoint, Transport};
#[cfg(feature = "http")]
use crate::transport::{HttpTimeouts, HttpTransport};

/// Enrolls a fresh store with a one-time code. `endpoint` is where
/// `transport` goes and how far it trusts the way: it is saved for every
/// sync after this.
pub fn enroll(
    store: &Store,
    transport: &dyn Transport,
    endpoint: &Endpoint,
    code: &str,
    device_label: Option<String>,
) -> Result<DeviceIdentity> {
    let response = request_enrolment(store, transport, code, device_label)?;
    store.save_enrollment(endpoint, &response)
}

/// Enrols a fresh store with what an enrolment QR code says (the app's
/// scanner hands over the text; [`EnrolQr::parse`] reads it). Without a
/// CA fingerprint this is [`enroll`] with the default trust. With one, the
/// enrolment exchange trusts only the CA the server presents with that
/// fingerprint (`transport::pin`), and the device keeps that CA's
/// certificate as its `ca_pem`: from then on it is as if the CA had been
/// given as a file. Over `https://` only.
#[cfg(feature = "http")]
pub fn enroll_from_qr(
    store: &Store,
    qr: &EnrolQr,
    device_label: Option<String>,
    timeouts: HttpTimeouts,
) -> Result<DeviceIdentity> {
    let Some(fingerprint) = qr.ca_sha256 else {
        let endpoint = Endpoint::new(&qr.server);
        let transport = HttpTransport::connect(&endpoint, timeouts)?;
        return enroll(store, &transport, &endpoint, &qr.code, device_label);
    };
    let (transport, pin) = HttpTransport::pinned(&qr.server, fingerprint, timeouts)?;
    let response = request_enrolment(store, &transport, &qr.code, device_label)?;
    // The answer came over a connection the pin accepted, so it found the
    // certificate.
    let ca_pem = pin.certificate_pem().ok_or_else(|| {
        Error::Protocol("the enrolment answer came without a pinned certificate".into())
    })?;
    let endpoint = Endpoint {
        url: qr.server.clone(),
        ca_pem: Some(ca_pem),
        allow_insecure_http: false,
    };
    store.save_enrollment(&endpoint, &response)
}

/// Refuses a store that is enrolled already, then trades the code.
fn request_enrolment(
    store: &Store,
    transport: &dyn Transport,
    code: &str,
    device_label: Option<String>,
) -> Result<EnrollResponse> {
    if let Some(identity) = store.identity()? {
        return Err(Error::AlreadyEnrolled {
            device_id: identity.device_id,
        });
    }
    Ok(transport.enroll(&EnrollRequest {
        protocol: PROTOCOL_VERSION,
        code: code.trim().to_string(),
        device_label,
        attempt: Some(store.enrollment_attempt()?),
    })?)
}

/// What [`wipe`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WipeReport {
    /// The server revoked this device's token: a copy of it (from a backup
    /// of the phone, say) no longer works.
    pub server_told: bool,
    /// Why the server could not be told (no signal, say): then the operator
    /// should revoke the device (`doorstep admin revoke-device`).
    pub server_error: Option<String>,
    /// What was erased without ever reaching the server (only with `force`).
    pub lost: Unsynced,
}

/// Erases a device store for handing the phone to another cadre. Refuses
/// while anything recorded here has not reached the server, unless `force`
/// ([`Error::Unsynced`]: nothing is erased and nobody is told). Then asks
/// the server to revoke this device's token, when enrolled and a transport
/// is given; a server out of reach does not stop the wipe (the report
/// says so). Then deletes the files.
pub fn wipe(store: &Store, transport: Option<&dyn Transport>, force: bool) -> Result<WipeReport> {
    let token = match store.identity()? {
        Some(_) => Some(store.token()?),
        None => None,
    };
    // From here on nothing can be recorded: the check cannot go stale
    // while the server is being told.
    let lost = store.close_for_wipe(force)?;
    let mut report = WipeReport {
        server_told: false,
        server_error: None,
        lost,
    };
    if let (Some(transport), Some(token)) = (transport, token) {
        match transport.retire(
            &token,
            &RetireRequest {
                protocol: PROTOCOL_VERSION,
            },
        ) {
            Ok(_) => report.server_told = true,
            Err(error) => report.server_error = Some(error.to_string()),
        }
    }
    store.erase()?;
    Ok(report)
}
