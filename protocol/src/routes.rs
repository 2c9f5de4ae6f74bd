//! Routes, all under the `/v1` prefix.

pub const HEALTH: &str = "/v1/health";
pub const ENROLL: &str = "/v1/enroll";
pub const PUSH: &str = "/v1/sync/push";
pub const PULL: &str = "/v1/sync/pull";
pub const SNAPSHOT: &str = "/v1/sync/snapshot";
/// A device that is being wiped asks for its own token to be revoked.
pub const RETIRE: &str = "/v1/device/retire";
/// `POST`: what the server holds of some files.
pub const FILES_STATUS: &str = "/v1/files/status";
/// `PATCH` uploads bytes of a file, `GET` downloads a whole file; the
/// path ends with the file's SHA-256 ([`file`]).
pub const FILE: &str = "/v1/files/{sha256}";

/// The path of one file.
pub fn file(sha256: &str) -> String {
    format!("/v1/files/{sha256}")
}

/// Every route the server has (the authorisation tests go through each).
pub const ALL: [&str; 8] = [
    HEALTH,
    ENROLL,
    PUSH,
    PULL,
    SNAPSHOT,
    RETIRE,
    FILES_STATUS,
    FILE,
];
