//! The wire format between a Doorstep device and the Doorstep server.
//!
//! This crate is the contract: the device core and the server both depend on
//! it and on nothing of each other's storage. Every type here is serialised as
//! JSON (bodies compressed with zstd on the wire, see `docs/protocol.md`).
//!
//! Rules for changing it:
//! - adding an optional field (`#[serde(default)]`) is compatible;
//! - removing or renaming a field, or changing its meaning, needs a new
//!   [`PROTOCOL_VERSION`] and a new route prefix (`/v2`).
//!
//! The snapshot tests at the bottom pin the JSON shape of each message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

pub mod columns;
pub mod enrol_qr;
pub mod files;
mod household;
pub mod limits;
pub mod routes;

pub use columns::COLUMNS_MEDIA_TYPE;
pub use enrol_qr::{CaFingerprint, EnrolQr, EnrolQrError};
pub use files::{
    FileOffer, FileState, FileStatusRequest, FileStatusResponse, FileUploadResponse,
    is_file_reference,
};
pub use household::{ConflictRecord, HOUSEHOLD_CATEGORIES, Hlc, HouseholdEdit, HouseholdField};

/// The protocol version this crate describes. Sent by the device in every
/// request body and by the server in every response.
pub const PROTOCOL_VERSION: u32 = 1;

/// HTTP header carrying the bearer token is the standard `Authorization`.
/// Bodies are compressed with zstd and say so with `Content-Encoding: zstd`.
pub const ENCODING_ZSTD: &str = "zstd";

/// Answers of a visit: question name → value.
pub type Answers = Map<String, Value>;

/// `GET /v1/health`: `status` is `ok`, or `unavailable` (with HTTP 503)
/// when the server cannot reach its database, so a load balancer sends
/// devices to another server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub protocol: u32,
    pub server_version: String,
    pub server_time: DateTime<Utc>,
    /// `ok` or `unreachable`; absent from servers before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// `POST /v1/enroll`: a device trades a one-time code for its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub protocol: u32,
    pub code: String,
    /// A label the operator recognises ("Android 13, Redmi"), never personal data.
    #[serde(default)]
    pub device_label: Option<String>,
    /// Made once by the device and repeated on every retry: a retry after a
    /// lost answer gets the same device back (with a new token) instead of
    /// "code already used".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub protocol: u32,
    pub device_id: Uuid,
    /// Secret bearer token. The server keeps only its SHA-256.
    pub token: String,
    pub cadre_id: Uuid,
    pub cadre_name: String,
    pub server_time: DateTime<Utc>,
}

/// `POST /v1/device/retire`: the device is being wiped (handed to another
/// cadre): its token stops working at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetireRequest {
    pub protocol: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetireResponse {
    pub protocol: u32,
    pub device_id: Uuid,
    pub server_time: DateTime<Utc>,
}

/// A level of the administrative hierarchy (县 › 乡 › 村).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaLevel {
    County,
    Township,
    Village,
}

impl AreaLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AreaLevel::County => "county",
            AreaLevel::Township => "township",
            AreaLevel::Village => "village",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "county" => Some(AreaLevel::County),
            "township" => Some(AreaLevel::Township),
            "village" => Some(AreaLevel::Village),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaRecord {
    /// The national administrative code (6 digits county, 9 township, 12 village).
    pub code: String,
    pub name: String,
    pub level: AreaLevel,
    #[serde(default)]
    pub parent_code: Option<String>,
}

/// A household as the server holds it. Shared: both sides may edit it; the
/// `version` increases with every change the server accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseholdRecord {
    pub id: Uuid,
    pub village_code: String,
    pub head_name: String,
    pub id_card_suffix: String,
    /// 村民小组, e.g. "3组".
    pub group: String,
    pub members: u32,
    pub phone: String,
    pub address: String,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    pub category: String,
    pub version: u64,
}

/// A finalised visit. Immutable once it exists; a correction is a new visit
/// naming the one it `corrects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitRecord {
    pub id: Uuid,
    pub household_id: Uuid,
    pub cadre_id: Uuid,
    pub device_id: Uuid,
    pub form_id: String,
    pub form_version: String,
    pub answers: Answers,
    /// What the form's calculations give for these answers, shaped like the
    /// answers. Computed by the server on push (a device leaves it out).
    #[serde(default, skip_serializing_if = "Answers::is_empty")]
    pub computed: Answers,
    /// When the cadre finalised it, by the device's clock.
    pub recorded_at: DateTime<Utc>,
    #[serde(default)]
    pub corrects: Option<Uuid>,
    /// When the server stored it; absent in a push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    /// Set by the server when `recorded_at` was more than a day after it
    /// received the visit: the phone's clock was wrong.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clock_ahead: bool,
}

/// A published form version. `definition` is the form document understood by
/// `doorstep-core`'s form engine; it carries its own format version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormRecord {
    pub form_id: String,
    pub version: String,
    pub title: String,
    pub definition: Value,
    pub published_at: DateTime<Utc>,
}

/// `POST /v1/sync/push`: the device's outbox, in its sequence order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub protocol: u32,
    pub changes: Vec<Change>,
    /// Changes the device still holds to send after these (its outbox's
    /// pending entries not in this request), for the console's device
    /// list. Optional: older devices leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

/// One outbox entry. `(device id, seq)` identifies it for ever: the server
/// applies it at most once and answers a replay with `duplicate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    #[serde(flatten)]
    pub mutation: Mutation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Mutation {
    /// A finalised visit.
    Visit(VisitRecord),
    /// A correction of a shared household record, merged per field.
    Household(HouseholdEdit),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    pub protocol: u32,
    /// One result per change, in the order of the request.
    pub results: Vec<ChangeResult>,
    /// The server's change-log position that contains every write of this
    /// push.
    pub position: u64,
    pub server_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeResult {
    pub seq: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Stored now.
    Applied,
    /// Stored by an earlier push; nothing changed.
    Duplicate,
    /// Not stored. The device keeps the change and shows the reason.
    Rejected { code: RejectCode, reason: String },
}

/// Why the server refused a change; the device may act on the code, the
/// reason is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The household is not (or no longer) assigned to this device's cadre.
    OutOfScope,
    UnknownHousehold,
    UnknownForm,
    /// The answers fail the form's rules.
    Invalid,
    /// The change claims another device or cadre, or is otherwise malformed.
    Malformed,
    /// The change breaks a size limit (`limits`): an answer, the visit, an
    /// edit.
    TooLarge,
    /// The id was already used for other content (the same visit id with
    /// other answers, a sequence number reused): never `duplicate`, which
    /// would let the device drop it.
    Conflict,
    /// A code this build does not know (from a newer server).
    #[serde(other)]
    Other,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::OutOfScope => "out_of_scope",
            RejectCode::UnknownHousehold => "unknown_household",
            RejectCode::UnknownForm => "unknown_form",
            RejectCode::Invalid => "invalid",
            RejectCode::Malformed => "malformed",
            RejectCode::TooLarge => "too_large",
            RejectCode::Conflict => "conflict",
            RejectCode::Other => "other",
        }
    }
}

/// `GET /v1/sync/pull?cursor=N&scope=DIGEST&limit=N`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullQuery {
    /// The last position the device has applied (0 at first).
    #[serde(default)]
    pub cursor: u64,
    /// [`scope_digest`] of the households the device holds as assigned.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    /// Changes the device still holds to send (its outbox's pending
    /// entries), as [`PushRequest::pending`]. Optional: older devices
    /// leave it out, and older servers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    pub protocol: u32,
    /// Present when the device's scope digest differs from the server's: every
    /// household id assigned to the device's cadre now. The device fetches the
    /// new ones whole through `/v1/sync/snapshot` and lets go of the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<Uuid>>,
    pub changes: Vec<PulledChange>,
    /// Where the next pull starts.
    pub cursor: u64,
    /// More changes wait after `cursor`.
    pub more: bool,
    pub server_time: DateTime<Utc>,
}

/// A change from the server's log, in log order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum PulledChange {
    Household(HouseholdRecord),
    Visit(VisitRecord),
    Form(FormRecord),
    /// A same-field conflict the server settled for one of the device's
    /// households: devices show it, supervisors review it.
    Conflict(ConflictRecord),
}

/// `POST /v1/sync/snapshot`: households that entered the device's scope,
/// fetched whole, in pages bounded in bytes: the first page carries the
/// households, their areas and conflicts and their first visits; when it
/// says `resume`, the device asks again with `after` for the next visits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRequest {
    pub protocol: u32,
    pub households: Vec<Uuid>,
    /// Where the previous page of this request stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<SnapshotCursor>,
}

/// A place in a snapshot's visits, which come ordered by household, then
/// visit id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCursor {
    pub household: Uuid,
    pub visit: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotResponse {
    pub protocol: u32,
    /// Areas the households lie in (county, township, village).
    pub areas: Vec<AreaRecord>,
    pub households: Vec<HouseholdRecord>,
    /// The form versions those visits were recorded with.
    pub forms: Vec<FormRecord>,
    /// Every visit of those households.
    pub visits: Vec<VisitRecord>,
    /// The conflicts settled about those households.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConflictRecord>,
    /// Requested ids that are not (or no longer) in scope.
    pub refused: Vec<Uuid>,
    /// More visits of these households wait: ask again with `after` set to
    /// this. The households are the device's only once no page says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<SnapshotCursor>,
    /// The log position this snapshot is consistent with.
    pub position: u64,
    pub server_time: DateTime<Utc>,
}

/// Every error response has this body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable: `unauthorized`, `bad_request`, `not_found`,
    /// `conflict`, `too_large`, `timeout`, `protocol`, `internal`.
    pub error: String,
    /// One sentence for a person.
    pub message: String,
}

/// Digest of a set of household ids: SHA-256-free and dependency-free on
/// purpose (it is a change detector, not a security measure). 64-bit FNV-1a
/// over the sorted ids, as 16 hex digits.
pub fn scope_digest(ids: &[Uuid]) -> String {
    let mut sorted: Vec<&Uuid> = ids.iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for id in sorted {
        for byte in id.as_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid timestamp")
    }

    fn visit() -> VisitRecord {
        let mut answers = Answers::new();
        answers.insert("income".into(), json!(12000));
        VisitRecord {
            id: Uuid::from_u128(1),
            household_id: Uuid::from_u128(2),
            cadre_id: Uuid::from_u128(3),
            device_id: Uuid::from_u128(4),
            form_id: "household_check".into(),
            form_version: "2024010101".into(),
            answers,
            computed: Default::default(),
            recorded_at: at("2024-01-02T03:04:05Z"),
            corrects: None,
            received_at: None,
            clock_ahead: false,
        }
    }

    #[test]
    fn fields_added_for_security_are_optional_and_unknown_codes_are_tolerated() {
        let value = serde_json::to_value(visit()).expect("serialises");
        assert!(value.get("clock_ahead").is_none(), "false is left out");
        let flagged = VisitRecord {
            clock_ahead: true,
            ..visit()
        };
        assert_eq!(
            serde_json::to_value(&flagged).expect("serialises")["clock_ahead"],
            json!(true)
        );
        let request: SnapshotRequest =
            serde_json::from_value(json!({"protocol": 1, "households": []})).expect("parses");
        assert_eq!(request.after, None);
        let code: RejectCode = serde_json::from_value(json!("from_the_future")).expect("parses");
        assert_eq!(code, RejectCode::Other);
        assert_eq!(
            serde_json::to_value(RejectCode::TooLarge).expect("serialises"),
            json!("too_large")
        );
    }

    #[test]
    fn push_request_shape_is_stable() {
        let request = PushRequest {
            protocol: PROTOCOL_VERSION,
            changes: vec![Change {
                seq: 7,
                mutation: Mutation::Visit(visit()),
            }],
            pending: None,
        };
        let value = serde_json::to_value(&request).expect("serialises");
        assert_eq!(
            value,
            json!({
                "protocol": 1,
                "changes": [{
                    "seq": 7,
                    "kind": "visit",
                    "data": {
                        "id": "00000000-0000-0000-0000-000000000001",
                        "household_id": "00000000-0000-0000-0000-000000000002",
                        "cadre_id": "00000000-0000-0000-0000-000000000003",
                        "device_id": "00000000-0000-0000-0000-000000000004",
                        "form_id": "household_check",
                        "form_version": "2024010101",
                        "answers": {"income": 12000},
                        "recorded_at": "2024-01-02T03:04:05Z",
                        "corrects": null
                    }
                }]
            })
        );
        let back: PushRequest = serde_json::from_value(value).expect("parses");
        assert_eq!(back, request);
    }

    #[test]
    fn push_response_outcomes_are_flat() {
        let response = PushResponse {
            protocol: PROTOCOL_VERSION,
            results: vec![
                ChangeResult {
                    seq: 1,
                    outcome: Outcome::Applied,
                },
                ChangeResult {
                    seq: 2,
                    outcome: Outcome::Duplicate,
                },
                ChangeResult {
                    seq: 3,
                    outcome: Outcome::Rejected {
                        code: RejectCode::OutOfScope,
                        reason: "household not assigned".into(),
                    },
                },
            ],
            position: 42,
            server_time: at("2024-01-02T03:04:05Z"),
        };
        let value = serde_json::to_value(&response).expect("serialises");
        assert_eq!(
            value["results"],
            json!([
                {"seq": 1, "outcome": "applied"},
                {"seq": 2, "outcome": "duplicate"},
                {"seq": 3, "outcome": "rejected", "code": "out_of_scope", "reason": "household not assigned"}
            ])
        );
        let back: PushResponse = serde_json::from_value(value).expect("parses");
        assert_eq!(back, response);
    }

    #[test]
    fn pulled_changes_are_tagged() {
        let change = PulledChange::Visit(VisitRecord {
            received_at: Some(at("2024-01-03T00:00:00Z")),
            ..visit()
        });
        let value = serde_json::to_value(&change).expect("serialises");
        assert_eq!(value["kind"], "visit");
        assert_eq!(value["data"]["received_at"], "2024-01-03T00:00:00Z");
        let back: PulledChange = serde_json::from_value(value).expect("parses");
        assert_eq!(back, change);
    }

    #[test]
    fn unknown_optional_fields_default() {
        let query: PullQuery = serde_json::from_value(json!({})).expect("parses");
        assert_eq!(query.cursor, 0);
        assert_eq!(query.scope, None);
        assert_eq!(query.pending, None);
    }

    #[test]
    fn the_pending_count_is_optional_both_ways() {
        // An older device's push has none; a newer one's is sent as is.
        let older: PushRequest =
            serde_json::from_value(json!({"protocol": 1, "changes": []})).expect("parses");
        assert_eq!(older.pending, None);
        assert_eq!(
            serde_json::to_value(&older).expect("serialises"),
            json!({"protocol": 1, "changes": []})
        );
        let newer = PushRequest {
            pending: Some(3),
            ..older
        };
        assert_eq!(
            serde_json::to_value(&newer).expect("serialises"),
            json!({"protocol": 1, "changes": [], "pending": 3})
        );
        let query: PullQuery =
            serde_json::from_value(json!({"cursor": 5, "pending": 0})).expect("parses");
        assert_eq!(query.pending, Some(0));
    }

    #[test]
    fn scope_digest_ignores_order_and_repeats() {
        let a = Uuid::from_u128(10);
        let b = Uuid::from_u128(20);
        assert_eq!(scope_digest(&[a, b]), scope_digest(&[b, a, b]));
        assert_ne!(scope_digest(&[a]), scope_digest(&[a, b]));
        assert_ne!(scope_digest(&[]), scope_digest(&[a]));
        assert_eq!(scope_digest(&[]).len(), 16);
    }
}
