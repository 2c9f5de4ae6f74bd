//! The columnar encoding of a push and of its answer
//! (`Content-Type: application/vnd.doorstep.columns.v1`, then zstd; see
//! docs/protocol.md, "Columnar push", and ADR 0012).
//!
//! A push's JSON repeats every key and every id as text for each visit; a
//! batch of visits is much alike. Here a batch is written by kind of value
//! instead of by visit: the visit ids as 16 bytes each, together; the ids
//! of households, cadres, devices and forms once each, then by index; the
//! times as differences; the answers taken apart by question ([`tree`]),
//! each question's values in a column of its own. zstd then finds the
//! repeats within each column. It decodes into the same [`PushRequest`]
//! the JSON does, value for value (a visit's digest on the server is the
//! same whichever way it came), and household edits travel as their JSON
//! inside it (they are few).
//!
//! Decoding is for hostile input: every count is checked against the bytes
//! left before anything is allocated for it, the decoded strings and
//! values spend from a budget (the bytes the same request may hold as
//! JSON), nesting is bounded, and every byte must be read (a body means one
//! thing).

mod bytes;
#[cfg(test)]
mod tests;
mod tree;

use chrono::{DateTime, Utc};
use serde_json::Map;
use uuid::Uuid;

use crate::limits::MAX_PUSH_CHANGES;
use crate::{
    Change, ChangeResult, Mutation, Outcome, PushRequest, PushResponse, RejectCode, VisitRecord,
};
use bytes::{Reader, TableWriter, Writer};
use tree::{Budget, TreeReader, TreeWriter};

/// The media type of a columnar push and of its answer. A device offers
/// it (`Content-Type` of its push, `Accept` for the answer); a server that
/// does not know it answers `415` or `400`, and the device sends JSON.
pub const COLUMNS_MEDIA_TYPE: &str = "application/vnd.doorstep.columns.v1";

/// Every columnar push body starts with these bytes.
const PUSH_MAGIC: &[u8; 4] = b"DSP1";
/// Every columnar push answer starts with these bytes.
const ANSWER_MAGIC: &[u8; 4] = b"DSR1";

/// Root paths of the answer trees: a visit's answers, its computed values.
const ANSWERS: usize = 0;
const COMPUTED: usize = 1;
const ROOTS: usize = 2;

/// The streams before the columns.
const STREAMS: usize = 5;

const KIND_VISIT: u8 = 0;
const KIND_JSON: u8 = 1;

/// Flags of a visit.
const HAS_CORRECTS: u8 = 1;
const HAS_RECEIVED_AT: u8 = 2;
const CLOCK_AHEAD: u8 = 4;
const HAS_COMPUTED: u8 = 8;
/// `recorded_at` is in whole milliseconds (a phone's clock): its fraction
/// is written as milliseconds, not nanoseconds.
const WHOLE_MILLIS: u8 = 16;
const FLAGS: u8 = HAS_CORRECTS | HAS_RECEIVED_AT | CLOCK_AHEAD | HAS_COMPUTED | WHOLE_MILLIS;

const OUTCOME_APPLIED: u8 = 0;
const OUTCOME_DUPLICATE: u8 = 1;
const OUTCOME_REJECTED: u8 = 2;

/// Why a columnar body cannot be read: which part, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ColumnsError(String);

/// Encodes a push (not yet compressed).
pub fn encode_push(request: &PushRequest) -> Result<Vec<u8>, ColumnsError> {
    let mut changes = Writer::default();
    let mut ids = Writer::default();
    let mut refs = Writer::default();
    let mut times = Writer::default();
    let mut trees = TreeWriter::new(ROOTS);
    let mut uuids = TableWriter::<Uuid>::default();
    let mut texts = TableWriter::<String>::default();
    let mut previous_seq = 0u64;
    let mut previous_second = 0i64;
    for change in &request.changes {
        changes.signed(change.seq.wrapping_sub(previous_seq.wrapping_add(1)) as i64);
        previous_seq = change.seq;
        let visit = match &change.mutation {
            Mutation::Visit(visit) => visit,
            other => {
                changes.byte(KIND_JSON);
                let json = serde_json::to_string(other)
                    .map_err(|error| ColumnsError(format!("a change as JSON: {error}")))?;
                changes.text(&json);
                continue;
            }
        };
        changes.byte(KIND_VISIT);
        ids.uuid(&visit.id);
        for id in [&visit.household_id, &visit.cadre_id, &visit.device_id]
            .into_iter()
            .chain(&visit.corrects)
        {
            if uuids.refer(&mut refs, id).1 {
                refs.uuid(id);
            }
        }
        for text in [&visit.form_id, &visit.form_version] {
            if texts.refer(&mut refs, text).1 {
                refs.text(text);
            }
        }
        let nanos = visit.recorded_at.timestamp_subsec_nanos();
        let millis = nanos % 1_000_000 == 0;
        let flags = [
            (millis, WHOLE_MILLIS),
            (visit.corrects.is_some(), HAS_CORRECTS),
            (visit.received_at.is_some(), HAS_RECEIVED_AT),
            (visit.clock_ahead, CLOCK_AHEAD),
            (!visit.computed.is_empty(), HAS_COMPUTED),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .fold(0, |flags, (_, flag)| flags | flag);
        times.byte(flags);
        let second = visit.recorded_at.timestamp();
        times.signed(second.wrapping_sub(previous_second));
        times.varint(u64::from(if millis { nanos / 1_000_000 } else { nanos }));
        previous_second = second;
        if let Some(received_at) = visit.received_at {
            times.signed(received_at.timestamp());
            times.varint(u64::from(received_at.timestamp_subsec_nanos()));
        }
        trees.object(ANSWERS, &visit.answers);
        if !visit.computed.is_empty() {
            trees.object(COMPUTED, &visit.computed);
        }
    }
    let mut body = Writer::default();
    body.raw(PUSH_MAGIC);
    body.varint(u64::from(request.protocol));
    body.varint(
        request
            .pending
            .map_or(0, |pending| pending.saturating_add(1)),
    );
    body.varint(request.changes.len() as u64);
    let (shape, columns) = trees.finish();
    let streams: Vec<Writer> = [changes, ids, refs, times, shape]
        .into_iter()
        .chain(columns)
        .collect();
    body.varint(streams.len() as u64);
    for stream in &streams {
        body.varint(stream.0.len() as u64);
    }
    for stream in &streams {
        body.raw(&stream.0);
    }
    Ok(body.0)
}

/// Decodes a columnar push (already decompressed). `budget` is the most
/// the decoded request may hold, counted as its JSON would be at least:
/// the same bound as the request's JSON body.
pub fn decode_push(body: &[u8], budget: usize) -> Result<PushRequest, ColumnsError> {
    let mut budget = Budget::new(budget);
    let mut header = Reader::new(body, "header");
    if header.take(PUSH_MAGIC.len()).ok() != Some(PUSH_MAGIC.as_slice()) {
        return Err(header.error("not a columnar push"));
    }
    let protocol = u32::try_from(header.varint()?)
        .map_err(|_| header.error("a protocol number out of range"))?;
    let pending = header.varint()?.checked_sub(1);
    // A change takes at least two bytes (its sequence number, its kind).
    let count = header.count(2, MAX_PUSH_CHANGES)?;
    let stream_count = header.count(1, usize::MAX)?;
    if stream_count < STREAMS + ROOTS {
        return Err(header.error(format_args!("{stream_count} streams")));
    }
    let mut lengths = Vec::with_capacity(stream_count);
    for _ in 0..stream_count {
        lengths.push(header.count(1, usize::MAX)?);
    }
    let mut streams = Vec::with_capacity(stream_count);
    for (index, length) in lengths.into_iter().enumerate() {
        streams.push(Reader::new(header.take(length)?, stream_name(index)));
    }
    header.finish()?;
    let columns = streams.split_off(STREAMS);
    let [mut changes, mut ids, mut refs, mut times, shape] =
        <[Reader<'_>; STREAMS]>::try_from(streams).map_err(|_| header.error("streams"))?;
    let mut trees = TreeReader::new(shape, columns, ROOTS);
    let mut uuids: Vec<Uuid> = Vec::new();
    let mut texts: Vec<&str> = Vec::new();
    let mut decoded = Vec::with_capacity(count);
    let mut previous_seq = 0u64;
    let mut previous_second = 0i64;
    for _ in 0..count {
        let seq = previous_seq
            .wrapping_add(1)
            .wrapping_add(changes.signed()? as u64);
        previous_seq = seq;
        let mutation = match changes.byte()? {
            KIND_VISIT => Mutation::Visit(visit(
                &mut ids,
                &mut refs,
                &mut times,
                &mut trees,
                (&mut uuids, &mut texts),
                &mut previous_second,
                &mut budget,
            )?),
            KIND_JSON => {
                let json = changes.text()?;
                budget.spend(json.len())?;
                serde_json::from_str(json)
                    .map_err(|error| changes.error(format_args!("a change's JSON: {error}")))?
            }
            other => return Err(changes.error(format_args!("unknown change kind {other}"))),
        };
        decoded.push(Change { seq, mutation });
    }
    for stream in [&changes, &ids, &refs, &times] {
        stream.finish()?;
    }
    trees.finish()?;
    Ok(PushRequest {
        protocol,
        changes: decoded,
        pending,
    })
}

fn stream_name(index: usize) -> &'static str {
    ["changes", "ids", "references", "times", "shape"]
        .get(index)
        .copied()
        .unwrap_or("a column")
}

fn visit<'a>(
    ids: &mut Reader<'a>,
    refs: &mut Reader<'a>,
    times: &mut Reader<'a>,
    trees: &mut TreeReader<'a>,
    (uuids, texts): (&mut Vec<Uuid>, &mut Vec<&'a str>),
    previous_second: &mut i64,
    budget: &mut Budget,
) -> Result<VisitRecord, ColumnsError> {
    let id = ids.uuid()?;
    let flags = times.byte()?;
    if flags & !FLAGS != 0 {
        return Err(times.error(format_args!("unknown flags {flags:#x}")));
    }
    let mut uuid = |refs: &mut Reader<'a>| -> Result<Uuid, ColumnsError> {
        let index = refs.index(uuids.len())?;
        if index == uuids.len() {
            uuids.push(refs.uuid()?);
        }
        Ok(uuids[index])
    };
    let household_id = uuid(refs)?;
    let cadre_id = uuid(refs)?;
    let device_id = uuid(refs)?;
    let corrects = if flags & HAS_CORRECTS != 0 {
        Some(uuid(refs)?)
    } else {
        None
    };
    let mut text = |refs: &mut Reader<'a>| -> Result<String, ColumnsError> {
        let index = refs.index(texts.len())?;
        if index == texts.len() {
            texts.push(refs.text()?);
        }
        budget.spend(texts[index].len())?;
        Ok(texts[index].to_owned())
    };
    let form_id = text(refs)?;
    let form_version = text(refs)?;
    let second = previous_second.wrapping_add(times.signed()?);
    *previous_second = second;
    let recorded_at = if flags & WHOLE_MILLIS != 0 {
        let millis = u32::try_from(times.varint()?)
            .ok()
            .filter(|millis| *millis < 2000)
            .ok_or_else(|| times.error("milliseconds"))?;
        DateTime::from_timestamp(second, millis * 1_000_000)
            .ok_or_else(|| times.error("a time out of range"))?
    } else {
        time(second, times)?
    };
    let received_at = if flags & HAS_RECEIVED_AT != 0 {
        let second = times.signed()?;
        Some(time(second, times)?)
    } else {
        None
    };
    let answers = trees.object(ANSWERS, budget)?;
    let computed = if flags & HAS_COMPUTED != 0 {
        trees.object(COMPUTED, budget)?
    } else {
        Map::new()
    };
    Ok(VisitRecord {
        id,
        household_id,
        cadre_id,
        device_id,
        form_id,
        form_version,
        answers,
        computed,
        recorded_at,
        corrects,
        received_at,
        clock_ahead: flags & CLOCK_AHEAD != 0,
    })
}

fn time(second: i64, times: &mut Reader<'_>) -> Result<DateTime<Utc>, ColumnsError> {
    let nanos = u32::try_from(times.varint()?).map_err(|_| times.error("nanoseconds"))?;
    DateTime::from_timestamp(second, nanos).ok_or_else(|| times.error("a time out of range"))
}

/// Encodes a push's answer (not yet compressed).
pub fn encode_push_response(response: &PushResponse) -> Vec<u8> {
    let mut body = Writer::default();
    body.raw(ANSWER_MAGIC);
    body.varint(u64::from(response.protocol));
    body.varint(response.position);
    body.signed(response.server_time.timestamp());
    body.varint(u64::from(response.server_time.timestamp_subsec_nanos()));
    body.varint(response.results.len() as u64);
    let mut previous = 0u64;
    for result in &response.results {
        body.signed(result.seq.wrapping_sub(previous.wrapping_add(1)) as i64);
        previous = result.seq;
        match &result.outcome {
            Outcome::Applied => body.byte(OUTCOME_APPLIED),
            Outcome::Duplicate => body.byte(OUTCOME_DUPLICATE),
            Outcome::Rejected { code, reason } => {
                body.byte(OUTCOME_REJECTED);
                body.text(code.as_str());
                body.text(reason);
            }
        }
    }
    body.0
}

/// Decodes a push's answer (already decompressed).
pub fn decode_push_response(body: &[u8]) -> Result<PushResponse, ColumnsError> {
    let mut reader = Reader::new(body, "push answer");
    if reader.take(ANSWER_MAGIC.len()).ok() != Some(ANSWER_MAGIC.as_slice()) {
        return Err(reader.error("not a columnar push answer"));
    }
    let protocol = u32::try_from(reader.varint()?)
        .map_err(|_| reader.error("a protocol number out of range"))?;
    let position = reader.varint()?;
    let second = reader.signed()?;
    let server_time = time(second, &mut reader)?;
    // A result takes at least two bytes.
    let count = reader.count(2, usize::MAX)?;
    let mut results = Vec::with_capacity(count);
    let mut previous = 0u64;
    for _ in 0..count {
        let seq = previous
            .wrapping_add(1)
            .wrapping_add(reader.signed()? as u64);
        previous = seq;
        let outcome = match reader.byte()? {
            OUTCOME_APPLIED => Outcome::Applied,
            OUTCOME_DUPLICATE => Outcome::Duplicate,
            OUTCOME_REJECTED => {
                let code = reader.text()?;
                let code: RejectCode =
                    serde_json::from_value(serde_json::Value::String(code.to_owned()))
                        .unwrap_or(RejectCode::Other);
                Outcome::Rejected {
                    code,
                    reason: reader.text()?.to_owned(),
                }
            }
            other => return Err(reader.error(format_args!("unknown outcome {other}"))),
        };
        results.push(ChangeResult { seq, outcome });
    }
    reader.finish()?;
    Ok(PushResponse {
        protocol,
        results,
        position,
        server_time,
    })
}
