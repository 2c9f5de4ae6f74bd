use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::limits::MAX_REQUEST_BYTES;
use crate::{Hlc, HouseholdEdit, HouseholdField, PROTOCOL_VERSION};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid timestamp")
}

fn answers(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn visit(index: u128, answers: Map<String, Value>) -> VisitRecord {
    VisitRecord {
        id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + index),
        household_id: Uuid::from_u128(2 + index % 3),
        cadre_id: Uuid::from_u128(100),
        device_id: Uuid::from_u128(200),
        form_id: "household_check".into(),
        form_version: "2024010101".into(),
        answers,
        computed: Map::new(),
        recorded_at: at("2024-12-02T03:04:05.123456789Z")
            + chrono::Duration::seconds(index as i64 * 97),
        corrects: None,
        received_at: None,
        clock_ahead: false,
    }
}

fn push(changes: Vec<Change>) -> PushRequest {
    PushRequest {
        protocol: PROTOCOL_VERSION,
        changes,
        pending: Some(12),
    }
}

fn round_trip(request: &PushRequest) -> PushRequest {
    let body = encode_push(request).expect("encodes");
    decode_push(&body, MAX_REQUEST_BYTES).expect("decodes")
}

fn sample() -> PushRequest {
    let mut corrected = visit(
        3,
        answers(json!({
            "members": [
                {"member_name": "张建国", "age": 54, "relation": "head"},
                {"member_name": "李秀英", "age": 51, "relation": "spouse", "able_to_work": "full"},
            ],
            "income_transfer": 2500.5,
            "location": {"lat": 27.123, "lon": 103.4567891, "accuracy": 12.0},
            "support_needed": ["jobs", "loans"],
            "notes": "户主在家，配合走访；长子在外务工，春节返乡",
            "debt": -1200,
            "ratio": 0.1 + 0.2,
            "zero": -0.0,
            "nothing": null,
            "flag": true,
            "other": false,
            "big": u64::MAX,
            "small": i64::MIN,
        })),
    );
    corrected.corrects = Some(Uuid::from_u128(77));
    corrected.received_at = Some(at("2024-12-03T00:00:00Z"));
    corrected.clock_ahead = true;
    corrected.computed = answers(json!({"per_capita": 4100.25, "below_line": "no"}));
    let mut fields = BTreeMap::new();
    fields.insert(HouseholdField::Phone, json!("13900000001"));
    push(vec![
        Change {
            seq: 7,
            mutation: Mutation::Visit(visit(1, answers(json!({"income_wages": 12000})))),
        },
        Change {
            seq: 8,
            mutation: Mutation::Household(HouseholdEdit {
                id: Uuid::from_u128(9),
                household_id: Uuid::from_u128(2),
                base_version: 3,
                fields,
                hlc: Hlc(113_535_620_612_980_736),
            }),
        },
        Change {
            seq: 10,
            mutation: Mutation::Visit(corrected),
        },
        Change {
            seq: 3,
            // A phone's clock: whole milliseconds.
            mutation: Mutation::Visit(VisitRecord {
                recorded_at: at("2024-12-02T03:04:05.123Z"),
                ..visit(4, Map::new())
            }),
        },
    ])
}

#[test]
fn a_push_decodes_to_what_was_encoded_value_for_value() {
    let request = sample();
    let back = round_trip(&request);
    assert_eq!(back, request);
    // The same JSON, byte for byte: the server's digest of a visit is the
    // same whichever way it came.
    assert_eq!(
        serde_json::to_string(&back).expect("json"),
        serde_json::to_string(&request).expect("json")
    );
    let empty = PushRequest {
        protocol: PROTOCOL_VERSION,
        changes: Vec::new(),
        pending: None,
    };
    assert_eq!(round_trip(&empty), empty);
}

#[test]
fn the_encoding_is_pinned() {
    // The wire format is a contract: this body must stay readable by every
    // server that speaks columns v1.
    let request = push(vec![Change {
        seq: 1,
        mutation: Mutation::Visit(visit(1, answers(json!({"age": [3, 4], "name": "兰"})))),
    }]);
    let body = encode_push(&request).expect("encodes");
    let hex: String = body.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(
        hex,
        concat!(
            "44535031", // "DSP1"
            "01",       // protocol 1
            "0d",       // pending: 12 + 1
            "01",       // one change
            "0a",       // ten streams: five, two roots, three paths (age, its items, name)
            "02",
            "10",
            "50",
            "0a",
            "11",
            "00",
            "00",
            "00",
            "02",
            "05",                               // their lengths
            "0000", // changes: seq 1 (0 after the previous + 1), a visit
            "01930000000070008000000000000001", // ids
            // references: household, cadre, device (each new: index, 16 bytes),
            // form id and version (new: index, length, text)
            "0000000000000000000000000000000003",
            "0100000000000000000000000000000064",
            "02000000000000000000000000000000c8",
            "000f686f757365686f6c645f636865636b",
            "010a32303234303130313031",
            "00",
            "8c90e9f40c",
            "959aef3a", // times: flags, seconds, nanoseconds
            // shape: two keys; key 0 "age", an array of 2, two whole numbers;
            // key 1 "name", a string
            "02",
            "0003616765",
            "1102",
            "0303",
            "01046e616d65",
            "10",
            "0304",       // the column of the ages
            "0003e585b0"  // the column of the names: new string 0, "兰"
        )
    );
    assert_eq!(decode_push(&body, MAX_REQUEST_BYTES), Ok(request));
}

#[test]
fn an_answer_decodes_to_what_was_encoded() {
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
                seq: 9,
                outcome: Outcome::Rejected {
                    code: RejectCode::OutOfScope,
                    reason: "household not assigned".into(),
                },
            },
        ],
        position: 42,
        server_time: at("2024-01-02T03:04:05.5Z"),
    };
    let body = encode_push_response(&response);
    assert_eq!(decode_push_response(&body), Ok(response));
    // A code from a newer server is `other`, as in JSON.
    let mut newer = body.clone();
    let at = newer
        .windows(12)
        .position(|window| window == b"out_of_scope")
        .expect("the code");
    newer[at..at + 12].copy_from_slice(b"from_futurex");
    let decoded = decode_push_response(&newer).expect("decodes");
    assert!(matches!(
        decoded.results[2].outcome,
        Outcome::Rejected {
            code: RejectCode::Other,
            ..
        }
    ));
}

#[test]
fn every_cut_short_or_padded_body_is_refused() {
    let body = encode_push(&sample()).expect("encodes");
    for length in 0..body.len() {
        assert!(
            decode_push(&body[..length], MAX_REQUEST_BYTES).is_err(),
            "{length}"
        );
    }
    let mut padded = body.clone();
    padded.push(0);
    assert!(decode_push(&padded, MAX_REQUEST_BYTES).is_err());
    let answer = encode_push_response(&PushResponse {
        protocol: 1,
        results: vec![ChangeResult {
            seq: 1,
            outcome: Outcome::Applied,
        }],
        position: 1,
        server_time: at("2024-01-02T03:04:05Z"),
    });
    for length in 0..answer.len() {
        assert!(decode_push_response(&answer[..length]).is_err());
    }
}

#[test]
fn a_short_reference_to_a_long_string_cannot_multiply_it() {
    // One 100 KB note, then 10,000 visits that refer to it by index: a
    // small body that would decode to a gigabyte.
    let note = "兰".repeat(34_000);
    let changes = (0..1000)
        .map(|index| Change {
            seq: index + 1,
            mutation: Mutation::Visit(visit(
                u128::from(index),
                answers(json!({"notes": note, "more": [note, note, note, note]})),
            )),
        })
        .collect();
    let body = encode_push(&push(changes)).expect("encodes");
    assert!(body.len() < 300 * 1024, "{}", body.len());
    let error = decode_push(&body, MAX_REQUEST_BYTES).expect_err("over the budget");
    assert!(
        error.to_string().contains("more than a request may hold"),
        "{error}"
    );
}

#[test]
fn counts_beyond_the_limits_or_the_bytes_are_refused() {
    let mut body = Writer::default();
    body.raw(PUSH_MAGIC);
    body.varint(1);
    body.varint(0);
    body.varint((MAX_PUSH_CHANGES + 1) as u64);
    body.raw(&[0; 4096]);
    let error = decode_push(&body.0, MAX_REQUEST_BYTES).expect_err("too many");
    assert!(error.to_string().contains("a count of"), "{error}");
    // Deep nesting: refused as JSON would be, not a stack overflow.
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let body = encode_push(&push(vec![Change {
        seq: 1,
        mutation: Mutation::Visit(visit(1, answers(json!({ "deep": deep })))),
    }]))
    .expect("encodes");
    let error = decode_push(&body, MAX_REQUEST_BYTES).expect_err("too deep");
    assert!(error.to_string().contains("nested too deep"), "{error}");
    assert!(decode_push(b"{\"protocol\":1}", MAX_REQUEST_BYTES).is_err());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(
            |float| serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number)
        ),
        (-100_000_000_000i64..100_000_000_000, 0u32..11)
            .prop_map(|(whole, scale)| Value::from(whole as f64 / 10f64.powi(scale as i32))),
        "[a-c兰]{0,3}".prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]{1,2}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_answers_round_trip(
        trees in prop::collection::vec(
            prop::collection::btree_map("[a-e]{1,2}", json_value(), 0..6), 1..6),
        seqs in prop::collection::vec(any::<u64>(), 6),
    ) {
        let changes: Vec<Change> = trees
            .into_iter()
            .zip(seqs)
            .enumerate()
            .map(|(index, (tree, seq))| Change {
                seq,
                mutation: Mutation::Visit(visit(index as u128, tree.into_iter().collect())),
            })
            .collect();
        let request = push(changes);
        prop_assert_eq!(round_trip(&request), request);
    }

    #[test]
    fn damaged_bodies_are_refused_or_read_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = encode_push(&sample()).expect("encodes");
        for (index, byte) in flips {
            let at = index.index(body.len());
            body[at] = byte;
        }
        let _ = decode_push(&body, MAX_REQUEST_BYTES);
        let _ = decode_push_response(&body);
    }
}
