//! Secrets the server hands out (tokens, enrolment codes) and how it keeps
//! them: only their SHA-256, so a leaked database enrols no phone and
//! speaks for no device.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

/// SHA-256, hex.
pub(crate) fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A new bearer token: 32 random bytes, hex.
pub(crate) fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex(&bytes)
}

/// Codes are typed by people: case, spaces and dashes do not matter.
pub(crate) fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|character| character.is_ascii_alphanumeric())
        .map(|character| character.to_ascii_uppercase())
        .collect()
}

/// Whether the time in column `index` has passed.
pub(crate) fn expired(
    row: &super::db::Row<'_>,
    index: usize,
    now: DateTime<Utc>,
) -> super::StoreResult<bool> {
    Ok(row.get::<DateTime<Utc>>(index)? <= now)
}
