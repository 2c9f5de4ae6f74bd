//! The same visits against the machine's limits: what their JSON weighs
//! and what zstd makes of it, what the columns weigh, how long encoding and
//! decoding take, how long SQLite takes to insert the same rows with
//! nothing else (`synchronous=FULL`, one transaction a batch), and how fast
//! the loopback carries bytes. Each is a floor the push can be held to.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use doorstep_core::transport::COLUMNS_ZSTD_LEVEL;
use doorstep_protocol::limits::MAX_REQUEST_BYTES;
use doorstep_protocol::{Change, Mutation, PROTOCOL_VERSION, PushRequest, VisitRecord, columns};
use serde::Serialize;
use uuid::Uuid;

use super::PushArgs;

#[derive(Debug, Serialize)]
pub(super) struct Limits {
    /// Visits in each batch, as the device pushes them.
    batch_visits: usize,
    json_bytes_per_visit: f64,
    json_zstd3_bytes_per_visit: f64,
    json_zstd19_bytes_per_visit: f64,
    columns_bytes_per_visit: f64,
    /// What the device sends: the columns compressed at its level.
    columns_zstd_bytes_per_visit: f64,
    /// Columns and zstd, every batch (the device's share of the push).
    columns_encode_seconds: f64,
    /// zstd and columns back to changes (the server's share before its store).
    columns_decode_seconds: f64,
    /// The same through JSON and zstd-3, for comparison.
    json_encode_seconds: f64,
    json_decode_seconds: f64,
    /// SQLite alone inserting the same rows, `synchronous=FULL`, WAL, one
    /// transaction a batch.
    sqlite_insert_seconds: f64,
    /// What one TCP connection over loopback carries, bytes a second.
    loopback_bytes_per_second: f64,
}

pub(super) fn measure(
    args: &PushArgs,
    households: &[Uuid],
    (cadre, device): (Uuid, Uuid),
    directory: &Path,
) -> anyhow::Result<Limits> {
    let batch_visits = args.batch as usize;
    let mut recorded_at = chrono::Utc::now();
    let changes: Vec<Change> = super::backlog(args.seed, households, args.visits)
        .into_iter()
        .enumerate()
        .map(|(index, (household, answers))| {
            recorded_at += chrono::Duration::milliseconds(700);
            Change {
                seq: index as u64 + 1,
                mutation: Mutation::Visit(VisitRecord {
                    id: Uuid::now_v7(),
                    household_id: household,
                    cadre_id: cadre,
                    device_id: device,
                    form_id: "household_check".into(),
                    form_version: "1".into(),
                    answers,
                    computed: Default::default(),
                    recorded_at,
                    corrects: None,
                    received_at: None,
                    clock_ahead: false,
                }),
            }
        })
        .collect();
    let batches: Vec<PushRequest> = changes
        .chunks(batch_visits)
        .map(|chunk| PushRequest {
            protocol: PROTOCOL_VERSION,
            changes: chunk.to_vec(),
            pending: Some(0),
        })
        .collect();
    let visits = changes.len() as f64;
    let per_visit = |bytes: usize| bytes as f64 / visits;

    let (mut json, mut json3, mut json19) = (0, 0, 0);
    let (mut columns_raw, mut columns_zstd) = (0, 0);
    let mut json_bodies = Vec::new();
    let mut column_bodies = Vec::new();
    let mut json_encode = Duration::ZERO;
    let mut columns_encode = Duration::ZERO;
    for batch in &batches {
        let started = Instant::now();
        let body = serde_json::to_vec(batch)?;
        let compressed = zstd::bulk::compress(&body, 3)?;
        json_encode += started.elapsed();
        json += body.len();
        json3 += compressed.len();
        json19 += zstd::bulk::compress(&body, 19)?.len();
        json_bodies.push(compressed);
        let started = Instant::now();
        let body = columns::encode_push(batch)?;
        let compressed = zstd::bulk::compress(&body, COLUMNS_ZSTD_LEVEL)?;
        columns_encode += started.elapsed();
        columns_raw += body.len();
        columns_zstd += compressed.len();
        column_bodies.push(compressed);
    }
    let started = Instant::now();
    for body in &column_bodies {
        let body = zstd::bulk::decompress(body, MAX_REQUEST_BYTES)?;
        columns::decode_push(&body, MAX_REQUEST_BYTES)?;
    }
    let columns_decode = started.elapsed();
    let started = Instant::now();
    for body in &json_bodies {
        let body = zstd::bulk::decompress(body, MAX_REQUEST_BYTES)?;
        serde_json::from_slice::<PushRequest>(&body)?;
    }
    let json_decode = started.elapsed();

    Ok(Limits {
        batch_visits,
        json_bytes_per_visit: per_visit(json),
        json_zstd3_bytes_per_visit: per_visit(json3),
        json_zstd19_bytes_per_visit: per_visit(json19),
        columns_bytes_per_visit: per_visit(columns_raw),
        columns_zstd_bytes_per_visit: per_visit(columns_zstd),
        columns_encode_seconds: columns_encode.as_secs_f64(),
        columns_decode_seconds: columns_decode.as_secs_f64(),
        json_encode_seconds: json_encode.as_secs_f64(),
        json_decode_seconds: json_decode.as_secs_f64(),
        sqlite_insert_seconds: sqlite_inserts(&batches, &directory.join("raw.db"))?,
        loopback_bytes_per_second: loopback()?,
    })
}

/// Seconds SQLite takes to insert the visits as rows (ids, times and the
/// answers as JSON text), nothing else, one transaction a batch, at
/// `synchronous=FULL`.
fn sqlite_inserts(batches: &[PushRequest], path: &Path) -> anyhow::Result<f64> {
    let mut connection = rusqlite::Connection::open(path)?;
    connection.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE visits (
             id BLOB PRIMARY KEY, household_id BLOB NOT NULL, cadre_id BLOB NOT NULL,
             device_id BLOB NOT NULL, form_id TEXT NOT NULL, form_version TEXT NOT NULL,
             answers TEXT NOT NULL, recorded_at TEXT NOT NULL, received_at TEXT NOT NULL);
         CREATE INDEX visits_household ON visits(household_id);",
    )?;
    let started = Instant::now();
    for batch in batches {
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO visits VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?;
            let now = chrono::Utc::now().to_rfc3339();
            for change in &batch.changes {
                if let Mutation::Visit(visit) = &change.mutation {
                    insert.execute(rusqlite::params![
                        visit.id.as_bytes(),
                        visit.household_id.as_bytes(),
                        visit.cadre_id.as_bytes(),
                        visit.device_id.as_bytes(),
                        visit.form_id,
                        visit.form_version,
                        serde_json::to_string(&visit.answers)?,
                        visit.recorded_at.to_rfc3339(),
                        now,
                    ])?;
                }
            }
        }
        transaction.commit()?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Bytes a second one TCP connection carries over loopback (256 MiB in
/// 64 KiB writes).
fn loopback() -> anyhow::Result<f64> {
    const TOTAL: usize = 256 * 1024 * 1024;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let address = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<usize> {
        let (mut stream, _) = listener.accept()?;
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match stream.read(&mut buffer)? {
                0 => return Ok(total),
                read => total += read,
            }
        }
    });
    let mut stream = TcpStream::connect(address)?;
    let chunk = vec![7u8; 64 * 1024];
    let started = Instant::now();
    for _ in 0..TOTAL / chunk.len() {
        stream.write_all(&chunk)?;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let read = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the loopback reader failed"))??;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(read == TOTAL, "the loopback lost bytes");
    Ok(TOTAL as f64 / seconds)
}
