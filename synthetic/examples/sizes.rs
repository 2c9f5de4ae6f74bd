#![allow(clippy::print_stdout, clippy::unwrap_used)]
use doorstep_protocol::*;
use doorstep_synthetic::*;
use uuid::Uuid;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(2000);
    let mut draw = Draw::new(1);
    let households: Vec<Uuid> = (0..200).map(|_| Uuid::now_v7()).collect();
    let cadre = Uuid::now_v7();
    let device = Uuid::now_v7();
    let mut t = chrono::Utc::now();
    let changes: Vec<Change> = (0..n)
        .map(|i| {
            t = t + chrono::Duration::milliseconds(900 + draw.below(200) as i64);
            Change {
                seq: i as u64 + 1,
                mutation: Mutation::Visit(VisitRecord {
                    id: Uuid::now_v7(),
                    household_id: households[draw.below(200) as usize],
                    cadre_id: cadre,
                    device_id: device,
                    form_id: "household_check".into(),
                    form_version: "2024112901".into(),
                    answers: answers(&mut draw),
                    computed: Default::default(),
                    recorded_at: t,
                    corrects: None,
                    received_at: None,
                    clock_ahead: false,
                }),
            }
        })
        .collect();
    let req = PushRequest {
        protocol: 1,
        changes,
        pending: Some(0),
    };
    let json = serde_json::to_vec(&req).unwrap();
    let cols = columns::encode_push(&req).unwrap();
    let per = |x: usize| x as f64 / n as f64;
    println!("json {:.0} B/visit", per(json.len()));
    for l in [3, 9, 19] {
        println!(
            "json zstd{l} {:.1}",
            per(zstd::bulk::compress(&json, l).unwrap().len())
        );
    }
    println!("columns raw {:.1}", per(cols.len()));
    for l in [3, 6, 9, 12, 19] {
        let t0 = std::time::Instant::now();
        let c = zstd::bulk::compress(&cols, l).unwrap();
        println!("columns zstd{l} {:.1} ({:?})", per(c.len()), t0.elapsed());
    }
    let t0 = std::time::Instant::now();
    let back = columns::decode_push(&cols, 64 << 20).unwrap();
    println!("decode {:?}", t0.elapsed());
    assert_eq!(back, req);
    let t0 = std::time::Instant::now();
    let _: PushRequest = serde_json::from_slice(&json).unwrap();
    println!("json decode {:?}", t0.elapsed());
}
