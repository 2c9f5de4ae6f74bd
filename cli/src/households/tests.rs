//! Tests of the generator and of the CSV round trip: determinism, counts,
//! nesting of codes and names, plausible fields and coordinates, and the
//! reader's error messages, which must never show personal data.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::generate::round6;
use super::places::{COUNTIES, KM_PER_DEGREE_LAT, KM_PER_DEGREE_LON};
use super::{
    CATEGORIES, COLUMNS, EDGE, GENERAL, HouseholdRow, RELIEVED, SUDDEN_HARDSHIP, UNSTABLE,
    generate, read_csv, write_csv,
};

fn csv_bytes(rows: &[HouseholdRow]) -> Vec<u8> {
    let mut out = Vec::new();
    write_csv(rows, &mut out).unwrap();
    out
}

fn csv_text(rows: &[HouseholdRow]) -> String {
    String::from_utf8(csv_bytes(rows)).unwrap()
}

/// The CSV with line `line` (1-based) changed by `edit`.
fn edit_line(text: &str, line: usize, edit: impl Fn(&str) -> String) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                edit(l)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces field `column` of a CSV line without quotes or commas in it.
fn set_field(line: &str, column: usize, value: &str) -> String {
    let mut fields: Vec<&str> = line.split(',').collect();
    assert_eq!(fields.len(), COLUMNS.len(), "test line has quoted commas");
    fields[column] = value;
    fields.join(",")
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = csv_bytes(&generate(500, 42));
    let b = csv_bytes(&generate(500, 42));
    let c = csv_bytes(&generate(500, 43));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn count_is_exact() {
    for count in [0, 1, 59, 150, 1000] {
        assert_eq!(generate(count, 7).len(), count, "count {count}");
    }
    assert_eq!(csv_text(&generate(0, 7)).lines().count(), 1, "header only");
}

#[test]
fn header_matches_struct_order() {
    let rows = generate(1, 1);
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(&rows[0]).unwrap();
    let serde_text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
    let text = csv_text(&rows);
    assert_eq!(serde_text.lines().next(), text.lines().next());
    assert_eq!(text.lines().next().unwrap(), COLUMNS.join(","));
}

#[test]
fn villages_hold_60_to_150_households_except_maybe_the_last() {
    for seed in 0..5 {
        let rows = generate(3000, seed);
        let mut runs: Vec<(String, usize)> = Vec::new();
        for row in &rows {
            match runs.last_mut() {
                Some((code, n)) if *code == row.village_code => *n += 1,
                _ => runs.push((row.village_code.clone(), 1)),
            }
        }
        let distinct: HashSet<&String> = runs.iter().map(|(code, _)| code).collect();
        assert_eq!(
            distinct.len(),
            runs.len(),
            "a village's rows are contiguous"
        );
        let (_, last) = runs.pop().unwrap();
        assert!((1..=150).contains(&last));
        for (code, n) in runs {
            assert!((60..=150).contains(&n), "village {code} has {n}");
        }
    }
}

#[test]
fn codes_and_names_nest() {
    let rows = generate(5000, 3);
    let mut village_names: BTreeMap<&str, &str> = BTreeMap::new();
    let mut township_names: BTreeMap<&str, &str> = BTreeMap::new();
    for row in &rows {
        let county = COUNTIES.iter().find(|c| c.code == row.county_code).unwrap();
        assert_eq!(county.name, row.county);
        assert_eq!(row.township_code.len(), 9);
        assert_eq!(row.village_code.len(), 12);
        assert!(row.township_code.starts_with(&row.county_code));
        assert!(row.village_code.starts_with(&row.township_code));
        assert!(county.townships.iter().any(|t| t.name == row.township));
        assert_eq!(
            *township_names
                .entry(&row.township_code)
                .or_insert(&row.township),
            row.township
        );
        assert_eq!(
            *village_names
                .entry(&row.village_code)
                .or_insert(&row.village),
            row.village
        );
        assert!(row.address.starts_with(&format!(
            "{}{}{}{}",
            row.county, row.township, row.village, row.group
        )));
        assert!(row.address.ends_with('号'));
    }
}

#[test]
fn fields_are_well_formed() {
    let rows = generate(3000, 11);
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        assert!(
            CATEGORIES.contains(&row.category.as_str()),
            "{}",
            row.category
        );
        *by_category.entry(&row.category).or_default() += 1;
        assert!((1..=8).contains(&row.members));
        let name_len = row.head_name.chars().count();
        assert!((2..=3).contains(&name_len), "name length {name_len}");
        let suffix = row.id_card_suffix.as_bytes();
        assert_eq!(suffix.len(), 4);
        assert!(suffix[..3].iter().all(u8::is_ascii_digit));
        assert!(suffix[3].is_ascii_digit() || suffix[3] == b'X');
        assert_eq!(row.phone.len(), 11);
        assert!(row.phone.starts_with('1'));
        assert!(row.phone.bytes().all(|b| b.is_ascii_digit()));
        assert!(row.group.ends_with('组'));
    }
    let share = |c: &str| by_category.get(c).copied().unwrap_or(0) as f64 / rows.len() as f64;
    assert!(share(GENERAL) + share(RELIEVED) > 0.85);
    assert!(share(GENERAL) > 0.2 && share(RELIEVED) > 0.2);
    for monitored in [UNSTABLE, EDGE, SUDDEN_HARDSHIP] {
        assert!((0.002..0.06).contains(&share(monitored)), "{monitored}");
    }
    let sizes_3_to_5 = rows.iter().filter(|r| (3..=5).contains(&r.members)).count();
    assert!(
        sizes_3_to_5 * 2 > rows.len(),
        "most households have 3–5 members"
    );
}

#[test]
fn ids_are_v7_unique_and_sorted_in_generation_order() {
    let rows = generate(2000, 5);
    for pair in rows.windows(2) {
        assert!(pair[0].id < pair[1].id);
    }
    for row in &rows {
        assert_eq!(row.id.get_version_num(), 7);
        let (secs, _) = row.id.get_timestamp().unwrap().to_unix();
        // Within 2024.
        assert!((1_704_067_200..1_735_689_600).contains(&secs));
    }
}

#[test]
fn coordinates_in_zhaotong_and_villages_compact() {
    let rows = generate(4000, 9);
    let mut by_village: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for row in &rows {
        assert!((26.5..=28.6).contains(&row.lat), "lat {}", row.lat);
        assert!((102.9..=105.3).contains(&row.lon), "lon {}", row.lon);
        assert_eq!(round6(row.lat), row.lat);
        assert_eq!(round6(row.lon), row.lon);
        by_village
            .entry(&row.village_code)
            .or_default()
            .push((row.lat, row.lon));
    }
    for (code, points) in by_village {
        let n = points.len() as f64;
        let centre = (
            points.iter().map(|p| p.0).sum::<f64>() / n,
            points.iter().map(|p| p.1).sum::<f64>() / n,
        );
        for (lat, lon) in points {
            let km = (((lat - centre.0) * KM_PER_DEGREE_LAT).powi(2)
                + ((lon - centre.1) * KM_PER_DEGREE_LON).powi(2))
            .sqrt();
            assert!(km < 4.0, "village {code}: {km} km between two households");
        }
    }
}

#[test]
fn thousands_of_households_span_several_counties() {
    for seed in 0..5 {
        let rows = generate(3000, seed);
        let counties: BTreeSet<&str> = rows.iter().map(|r| r.county_code.as_str()).collect();
        assert!(counties.len() >= 3, "seed {seed}: {counties:?}");
        let townships: BTreeSet<&str> = rows.iter().map(|r| r.township_code.as_str()).collect();
        assert!(townships.len() >= 4, "seed {seed}");
    }
}

#[test]
fn write_then_read_round_trips() {
    let rows = generate(1200, 21);
    assert_eq!(read_csv(csv_bytes(&rows).as_slice()).unwrap(), rows);
    assert_eq!(read_csv(csv_bytes(&[]).as_slice()).unwrap(), Vec::new());
}

#[test]
fn read_trims_and_accepts_spreadsheet_quirks() {
    let rows = generate(3, 8);
    let text = csv_text(&rows);
    // BOM, spaces around fields, CRLF, blank and all-empty lines, lower-case x.
    let mut messy = String::from("\u{feff}");
    for (i, line) in text.lines().enumerate() {
        let spaced: Vec<String> = line.split(',').map(|f| format!("  {f} ")).collect();
        messy.push_str(&spaced.join(","));
        messy.push_str("\r\n");
        if i == 1 {
            messy.push_str("\r\n,,,,,,,,,,,,,,,\r\n");
        }
    }
    assert_eq!(read_csv(messy.as_bytes()).unwrap(), rows);

    let mut with_x = rows[0].clone();
    with_x.id_card_suffix = "123x".to_string();
    let read = read_csv(csv_bytes(&[with_x]).as_slice()).unwrap();
    assert_eq!(read[0].id_card_suffix, "123X");
}

#[test]
fn read_accepts_columns_in_any_order() {
    let rows = generate(4, 2);
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut reversed = COLUMNS;
    reversed.reverse();
    writer.write_record(reversed).unwrap();
    for row in &rows {
        let text = csv_text(std::slice::from_ref(row));
        let record = text.lines().nth(1).unwrap();
        let mut fields: Vec<&str> = record.split(',').collect();
        fields.reverse();
        writer.write_record(fields).unwrap();
    }
    let bytes = writer.into_inner().unwrap();
    assert_eq!(read_csv(bytes.as_slice()).unwrap(), rows);
}

#[test]
fn bad_members_names_its_line() {
    let rows = generate(10, 4);
    let text = csv_text(&rows);
    let bad = edit_line(&text, 7, |l| set_field(l, 10, "4x"));
    let err = read_csv(bad.as_bytes()).unwrap_err();
    assert_eq!(err.line, 7);
    assert_eq!(
        err.to_string(),
        "line 7: column `members`: invalid digit found in string"
    );

    let zero = edit_line(&text, 3, |l| set_field(l, 10, "0"));
    let err = read_csv(zero.as_bytes()).unwrap_err();
    assert_eq!(
        (err.line, err.message.as_str()),
        (3, "column `members`: must be at least 1")
    );
}

#[test]
fn bad_category_names_its_line_and_not_the_value() {
    let rows = generate(10, 4);
    let text = csv_text(&rows);
    let bad = edit_line(&text, 5, |l| set_field(l, 15, "poor"));
    let err = read_csv(bad.as_bytes()).unwrap_err();
    assert_eq!(err.line, 5);
    let shown = err.to_string();
    assert!(
        shown.starts_with("line 5: column `category`: unknown category"),
        "{shown}"
    );
    assert!(!shown.contains("poor"));
}

#[test]
fn nesting_and_empty_name_are_rejected_without_personal_data() {
    let rows = generate(5, 6);
    let text = csv_text(&rows);
    let row = &rows[1];

    let cases = [
        (1, "", "column `head_name`: must not be empty"),
        (
            7,
            "530999001001",
            "column `village_code`: does not start with the row's `township_code`",
        ),
        (
            5,
            "530999001",
            "column `township_code`: does not start with the row's `county_code`",
        ),
        (3, "5306", "column `county_code`: expected 6 digits"),
        (0, "not-a-uuid", "column `id`: not a valid UUID"),
        (
            11,
            "1.38E+10",
            "column `phone`: expected an 11-digit mobile",
        ),
        (2, "123", "column `id_card_suffix`: expected 3 digits"),
        (13, "91", "column `lat`: must be between -90 and 90"),
        (14, "east", "column `lon`: invalid float literal"),
    ];
    for (column, value, expected) in cases {
        let bad = edit_line(&text, 3, |l| set_field(l, column, value));
        let err = read_csv(bad.as_bytes()).unwrap_err();
        assert_eq!(err.line, 3, "{expected}");
        assert!(
            err.message.starts_with(expected),
            "{} vs {expected}",
            err.message
        );
        let shown = err.to_string();
        for private in [&row.head_name, &row.phone, &row.id_card_suffix] {
            assert!(!shown.contains(private.as_str()), "{shown}");
        }
    }
}

#[test]
fn header_and_shape_problems_are_reported() {
    let text = csv_text(&generate(3, 1));
    let err = read_csv("".as_bytes()).unwrap_err();
    assert_eq!(err.line, 1);

    let missing = edit_line(&text, 1, |l| l.replace(",phone,", ",mobile,"));
    let err = read_csv(missing.as_bytes()).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(
        err.message
            .starts_with("header cell 12 is not a known column"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("mobile"));

    let no_header = text.lines().skip(1).collect::<Vec<_>>().join("\n");
    let err = read_csv(no_header.as_bytes()).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(
        err.message
            .starts_with("header cell 1 is not a known column"),
        "{}",
        err.message
    );

    let twice = edit_line(&text, 1, |l| l.replace(",phone,", ",lat,"));
    let err = read_csv(twice.as_bytes()).unwrap_err();
    assert_eq!(err.message, "column `lat` appears twice");

    let short = edit_line(&text, 4, |l| l.rsplit_once(',').unwrap().0.to_string());
    let err = read_csv(short.as_bytes()).unwrap_err();
    assert_eq!(
        (err.line, err.message.as_str()),
        (4, "expected 16 columns, found 15")
    );

    let duplicate = format!("{text}{}\n", text.lines().nth(1).unwrap());
    let err = read_csv(duplicate.as_bytes()).unwrap_err();
    assert_eq!(
        (err.line, err.message.as_str()),
        (5, "column `id`: the same id as line 2")
    );

    let mut gbk = text.clone().into_bytes();
    gbk.extend_from_slice(b"\xd5\xc5\xc8\xfd,x\n");
    let err = read_csv(gbk.as_slice()).unwrap_err();
    assert_eq!(err.line, 5);
    assert!(err.message.contains("UTF-8"));
}

#[test]
fn read_never_panics_on_garbage() {
    let mut rng = StdRng::seed_from_u64(99);
    let valid = csv_bytes(&generate(3, 1));
    for _ in 0..2000 {
        let mut bytes = valid.clone();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..3) {
                0 => bytes[at] = rng.random(),
                1 => {
                    bytes.remove(at);
                }
                _ => {
                    let special = b",\"\n\r x0";
                    bytes.insert(at, special[rng.random_range(0..special.len())]);
                }
            }
        }
        let _ = read_csv(bytes.as_slice());
    }
    for len in 0..64 {
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = read_csv(bytes.as_slice());
    }
}
