//! Files attached to answers (ADR 0011): the device names a file by the
//! SHA-256 of its bytes; after its visits are pushed, it asks the server
//! which of their files it already holds and how much of each
//! ([`FileStatusRequest`]), then sends each missing file's remaining bytes
//! raw (`PATCH /v1/files/{sha256}` with [`UPLOAD_OFFSET`] and
//! [`UPLOAD_LENGTH`], as in the tus resumable-upload protocol). The server
//! keeps whatever part of a body reached it, so a cut connection resumes
//! where it stopped; it checks the whole file against its name before
//! keeping it.

use serde::{Deserialize, Serialize};

/// The byte where an upload's body starts (request) or how many bytes the
/// server holds (response of a refused offset).
pub const UPLOAD_OFFSET: &str = "upload-offset";
/// The whole file's size, in every upload request.
pub const UPLOAD_LENGTH: &str = "upload-length";
/// The file's media type (`image/jpeg`), in every upload request.
pub const UPLOAD_MEDIA_TYPE: &str = "doorstep-media-type";
/// The content type of an upload's body: raw bytes at an offset.
pub const UPLOAD_CONTENT_TYPE: &str = "application/offset+octet-stream";

/// Files one status request asks about at most.
pub const MAX_STATUS_FILES: usize = 500;

/// Whether `text` has the shape of a file reference: 64 lower-case hex
/// digits (a SHA-256). Anything else an answer holds is not a file.
pub fn is_file_reference(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// `POST /v1/files/status`: what the server holds of these files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStatusRequest {
    pub protocol: u32,
    pub files: Vec<FileOffer>,
}

/// A file the device has and a visit of its names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffer {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStatusResponse {
    pub protocol: u32,
    /// One for each file asked about, in the same order.
    pub files: Vec<FileState>,
}

/// What the server holds of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub sha256: String,
    /// The server holds the whole file (from any device): nothing to send.
    pub complete: bool,
    /// Bytes of it the server holds from this device: an upload resumes
    /// here.
    pub offset: u64,
    /// The server takes this file from this device: one of the device's
    /// visits names it. A file no pushed visit names is refused (push the
    /// visit first).
    pub expected: bool,
}

/// The answer to an upload: how far the server now holds the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUploadResponse {
    pub protocol: u32,
    pub offset: u64,
    /// The whole file arrived and matched its name.
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_64_lower_case_hex_digits() {
        assert!(is_file_reference(&"a".repeat(64)));
        assert!(is_file_reference(&"0123456789abcdef".repeat(4)));
        assert!(!is_file_reference(&"A".repeat(64)));
        assert!(!is_file_reference(&"a".repeat(63)));
        assert!(!is_file_reference(&"a".repeat(65)));
        assert!(!is_file_reference("photo.jpg"));
    }

    #[test]
    fn file_status_shape_is_stable() {
        let answer = FileStatusResponse {
            protocol: 1,
            files: vec![FileState {
                sha256: "ab".repeat(32),
                complete: false,
                offset: 65536,
                expected: true,
            }],
        };
        let json = serde_json::to_value(&answer).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"protocol": 1, "files": [
                {"sha256": "ab".repeat(32), "complete": false, "offset": 65536, "expected": true}
            ]})
        );
    }
}
