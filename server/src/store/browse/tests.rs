//! The console's reads and the export's filters on both backends: the same
//! rows, counts and order from SQLite and from PostgreSQL.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use doorstep_protocol::{AreaLevel, AreaRecord, Change, HouseholdRecord, Mutation, Outcome};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::store::testing::{TestDatabase, empty_store, on_both_backends};
use crate::store::tests::{form, visit_change};
use crate::store::{AssignmentTarget, DeviceAuth, ServerStore};

const COUNTY: &str = "530626";
const TOWNSHIP: &str = "530626104";
const OTHER_TOWNSHIP: &str = "530626105";
/// 中坝村: households 1 to 4.
const V1: &str = "530626104201";
/// 石龙村: household 5.
const V2: &str = "530626104202";
/// 新滩村: household 6.
const V3: &str = "530626105201";
/// A village without households.
const EMPTY_VILLAGE: &str = "530626105202";
const OTHER_COUNTY: &str = "530623";
/// 牛塘村, in the other county: household 7.
const V_OTHER: &str = "530623206201";

/// The households: id, village, group, head, ID-card suffix.
const HOUSEHOLDS: [(u128, &str, &str, &str, &str); 7] = [
    (1, V1, "1组", "喻兰", "123X"),
    (2, V1, "2组", "王建国", "4567"),
    (3, V1, "1组", "李春花", "8901"),
    (4, V1, "10组", "张伟", "2345"),
    (5, V2, "1组", "陈静", "6789"),
    (6, V3, "1组", "赵敏", "0123"),
    (7, V_OTHER, "1组", "刘洋", "4455"),
];

pub(super) fn id(number: u128) -> Uuid {
    Uuid::from_u128(number)
}

/// The areas and households above, nothing visited.
pub(super) fn imported() -> (TestDatabase, ServerStore) {
    let (database, store) = empty_store();
    let area = |code: &str, name: &str, level, parent: Option<&str>| AreaRecord {
        code: code.into(),
        name: name.into(),
        level,
        parent_code: parent.map(Into::into),
    };
    let areas = [
        area(OTHER_COUNTY, "盐津县", AreaLevel::County, None),
        area(
            "530623206",
            "牛寨乡",
            AreaLevel::Township,
            Some(OTHER_COUNTY),
        ),
        area(V_OTHER, "牛塘村", AreaLevel::Village, Some("530623206")),
        area(COUNTY, "绥江县", AreaLevel::County, None),
        area(TOWNSHIP, "中城镇", AreaLevel::Township, Some(COUNTY)),
        area(OTHER_TOWNSHIP, "南岸镇", AreaLevel::Township, Some(COUNTY)),
        area(V1, "中坝村", AreaLevel::Village, Some(TOWNSHIP)),
        area(V2, "石龙村", AreaLevel::Village, Some(TOWNSHIP)),
        area(V3, "新滩村", AreaLevel::Village, Some(OTHER_TOWNSHIP)),
        area(
            EMPTY_VILLAGE,
            "金江村",
            AreaLevel::Village,
            Some(OTHER_TOWNSHIP),
        ),
    ];
    let households: Vec<HouseholdRecord> = HOUSEHOLDS
        .iter()
        .map(|&(number, village, group, head, suffix)| HouseholdRecord {
            id: id(number),
            village_code: village.into(),
            head_name: head.into(),
            id_card_suffix: suffix.into(),
            group: group.into(),
            members: 1,
            phone: format!("1380000000{number}"),
            address: format!("{group}{number}号"),
            lat: None,
            lon: None,
            category: "general".into(),
            version: 0,
        })
        .collect();
    store.import_households(&areas, &households).unwrap();
    (database, store)
}

/// A visit to household `number`, `ago` before `now`, with a wage income
/// (one member: the per-capita income), a risk category and members
/// working away (`name`, `return_date`).
fn visit(
    auth: DeviceAuth,
    seq: u64,
    number: u128,
    at: DateTime<Utc>,
    income: i64,
    risk: &str,
    migrants: &[(&str, Option<&str>)],
) -> Change {
    let mut change = visit_change(auth, seq, number, "1", at);
    if let Mutation::Visit(visit) = &mut change.mutation {
        let answers = &mut visit.answers;
        answers.insert("income_wages".into(), json!(income));
        answers.insert("risk_category".into(), json!(risk));
        let away: Vec<serde_json::Value> = migrants
            .iter()
            .map(|(name, back)| {
                let mut migrant = json!({"migrant_name": name, "destination": "outside_province",
                                         "city": "宁波", "employer": "电子厂"});
                if let Some(back) = back {
                    migrant["return_date"] = json!(back);
                }
                migrant
            })
            .collect();
        if !away.is_empty() {
            answers.insert("migrants".into(), json!(away));
        }
    }
    change
}

/// What [`visited`] recorded.
pub(super) struct Visited {
    pub(super) auth: DeviceAuth,
    pub(super) now: DateTime<Utc>,
    /// Each visit's household, time and id, in the order pushed.
    pub(super) visits: Vec<(u128, DateTime<Utc>, Uuid)>,
}

/// Visits to households 1 (2 days ago, 30,000 yuan), 2 (10 days ago, 9,000,
/// unstable, two members away), 5 (an hour ago, 5,000, unsafe water, one
/// away) and 6 (a day ago, 12,000, edge, one away with a date and one
/// without), by one device of villages 1 to 3, pushed at once.
pub(super) fn visited(store: &ServerStore) -> Visited {
    store.publish_form(&form("1", "first")).unwrap();
    let cadre = store.add_cadre("测试").unwrap();
    for village in [V1, V2, V3] {
        store
            .assign(cadre, &AssignmentTarget::Village(village.into()))
            .unwrap();
    }
    let code = store.enroll_code(cadre).unwrap();
    let response = store
        .enroll(&code.code, None, None, None, Utc::now())
        .unwrap();
    let auth = store.authenticate(&response.token, Utc::now()).unwrap();
    let now = Utc::now();
    let times = vec![
        (1, now - Duration::days(2)),
        (2, now - Duration::days(10)),
        (5, now - Duration::hours(1)),
        (6, now - Duration::days(1)),
    ];
    let mut changes = vec![
        visit(auth, 1, 1, times[0].1, 30_000, "none", &[]),
        visit(
            auth,
            2,
            2,
            times[1].1,
            9_000,
            "unstable",
            &[
                ("王小军", Some("2099-01-20")),
                ("王小红", Some("2099-02-01")),
            ],
        ),
        visit(
            auth,
            3,
            5,
            times[2].1,
            5_000,
            "none",
            &[("陈军", Some("2099-01-20"))],
        ),
        visit(
            auth,
            4,
            6,
            times[3].1,
            12_000,
            "edge",
            &[("赵强", Some("2099-03-01")), ("赵无期", None)],
        ),
    ];
    if let Mutation::Visit(visit) = &mut changes[2].mutation {
        visit
            .answers
            .insert("drinking_water_safe".into(), json!("no"));
    }
    let (results, _) = store.push(auth, &changes, None, now).unwrap();
    assert!(
        results
            .iter()
            .all(|result| result.outcome == Outcome::Applied),
        "{results:?}"
    );
    let visits = times
        .into_iter()
        .zip(&changes)
        .map(|((household, at), change)| match &change.mutation {
            Mutation::Visit(visit) => (household, at, visit.id),
            _ => unreachable!("only visits are pushed"),
        })
        .collect();
    Visited { auth, now, visits }
}

pub(super) fn township() -> Scope {
    Scope::Area(TOWNSHIP.into())
}

fn codes(path: &[AreaNode]) -> Vec<&str> {
    path.iter().map(|node| node.code.as_str()).collect()
}

/// Each row's target (an area's code or a group's name) and counts.
fn rows(progress: &Progress) -> Vec<(String, u64, u64, u64)> {
    progress
        .rows
        .iter()
        .map(|row| {
            let target = match &row.target {
                ProgressTarget::Area(area) => area.code.clone(),
                ProgressTarget::Group { name, .. } => name.clone(),
            };
            let counts = row.counts;
            (target, counts.households, counts.visited, counts.recent)
        })
        .collect()
}

fn row(target: &str, households: u64, visited: u64, recent: u64) -> (String, u64, u64, u64) {
    (target.to_owned(), households, visited, recent)
}

/// The households of a list, by number.
fn numbers(list: &HouseholdList) -> Vec<u128> {
    list.rows
        .iter()
        .map(|row| Uuid::parse_str(&row.id).unwrap().as_u128())
        .collect()
}

pub(super) fn not_found<T: std::fmt::Debug>(result: StoreResult<T>) -> bool {
    matches!(result, Err(StoreError::NotFound(_)))
}

on_both_backends! {
#[test]
fn progress_counts_households_by_area_group_and_day() {
    let (_database, store) = imported();
    let Visited { now, visits, .. } = visited(&store);

    let top = store.progress(&Scope::All, None, now).unwrap();
    assert!(top.path.is_empty());
    assert_eq!(rows(&top), [row(OTHER_COUNTY, 1, 0, 0), row(COUNTY, 6, 4, 3)]);
    assert_eq!(
        (top.total.households, top.total.visited, top.total.recent),
        (7, 4, 3)
    );
    assert_eq!(top.total.not_visited(), 3);

    let county = store.progress(&Scope::All, Some(COUNTY), now).unwrap();
    assert_eq!(codes(&county.path), [COUNTY]);
    assert_eq!(
        rows(&county),
        [row(TOWNSHIP, 5, 3, 2), row(OTHER_TOWNSHIP, 1, 1, 1)]
    );
    let other = store.progress(&Scope::All, Some(OTHER_TOWNSHIP), now).unwrap();
    assert_eq!(
        rows(&other),
        [row(V3, 1, 1, 1), row(EMPTY_VILLAGE, 0, 0, 0)],
        "a village without households is listed too"
    );
    // A village's rows are its groups, in code-point order.
    let village = store.progress(&Scope::All, Some(V1), now).unwrap();
    assert_eq!(codes(&village.path), [COUNTY, TOWNSHIP, V1]);
    assert_eq!(
        rows(&village),
        [row("10组", 1, 0, 0), row("1组", 2, 1, 1), row("2组", 1, 1, 0)]
    );

    // Visits per day: every one of the last 30 days, oldest first.
    let expected = |households: &[u128]| {
        let mut days = std::collections::BTreeMap::new();
        for (household, at, _) in &visits {
            if households.contains(household) {
                *days.entry(at.format("%Y-%m-%d").to_string()).or_insert(0) += 1;
            }
        }
        days
    };
    let counted = |progress: &Progress| {
        assert_eq!(progress.per_day.len(), 30);
        assert_eq!(
            progress.per_day.last().unwrap().0,
            now.format("%Y-%m-%d").to_string()
        );
        progress
            .per_day
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(day, count)| (day.clone(), *count))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(counted(&top), expected(&[1, 2, 5, 6]));
    assert_eq!(counted(&village), expected(&[1, 2]));

    // A supervisor's view starts at its township and ends there.
    let own = store.progress(&township(), None, now).unwrap();
    assert_eq!(codes(&own.path), [TOWNSHIP]);
    assert_eq!(rows(&own), [row(V1, 4, 2, 1), row(V2, 1, 1, 1)]);
    assert_eq!(counted(&own), expected(&[1, 2, 5]));
    let in_own = store.progress(&township(), Some(V1), now).unwrap();
    assert_eq!(codes(&in_own.path), [TOWNSHIP, V1]);
    for outside in [OTHER_TOWNSHIP, COUNTY, V_OTHER, "999"] {
        assert!(not_found(store.progress(&township(), Some(outside), now)));
        assert!(not_found(store.area_path(&township(), outside)));
    }
    let villages = store.villages_in_scope(&township()).unwrap();
    assert_eq!(codes(&villages), [V1, V2]);
    assert_eq!(store.villages_in_scope(&Scope::All).unwrap().len(), 5);
}

#[test]
fn households_are_searched_filtered_sorted_and_paged() {
    let (_database, store) = imported();
    visited(&store);
    let page = |scope: &Scope, query: HouseholdQuery, page: Page| {
        store.households_page(scope, &query, page).unwrap()
    };
    let all = |query: HouseholdQuery| page(&Scope::All, query, Page::number(1, 50));
    let search = |text: &str| {
        numbers(&all(HouseholdQuery {
            search: Some(text.into()),
            ..HouseholdQuery::default()
        }))
    };

    // By village code, then group and head's name in code-point order.
    let everyone = all(HouseholdQuery::default());
    assert_eq!(numbers(&everyone), [7, 4, 1, 3, 2, 5, 6]);
    assert_eq!(everyone.total, 7);
    let second = page(&Scope::All, HouseholdQuery::default(), Page::number(2, 3));
    assert_eq!((numbers(&second), second.total), (vec![3, 2, 5], 7));
    let last = page(&Scope::All, HouseholdQuery::default(), Page::number(3, 3));
    assert_eq!((numbers(&last), last.total), (vec![6], 7));
    let row = everyone.rows.iter().find(|row| row.head_name == "王建国").unwrap();
    assert_eq!(
        (row.village.as_str(), row.group.as_str(), row.visits),
        ("中坝村", "2组", 1)
    );
    assert_eq!(
        (row.per_capita_income, row.below_line, row.risk_category.as_deref()),
        (Some(9000.0), Some(true), Some("unstable"))
    );
    assert_eq!((row.relocated, row.water_unsafe), (Some(false), Some(false)));

    // The phone's search: Chinese text, any field, case and spaces ignored.
    assert_eq!(search("喻"), [1]);
    assert_eq!(search("李春"), [3]);
    assert_eq!(search("中坝"), [4, 1, 3, 2], "a village's name");
    assert_eq!(search("123x"), [1], "an ID-card suffix, case ignored");
    assert_eq!(search(" 138 0000 0002 "), [2], "a phone, spaces ignored");
    assert_eq!(search("1组5号"), [5], "an address");
    assert!(search("%").is_empty() && search("_").is_empty(), "no wildcards");
    assert_eq!(search("  "), [7, 4, 1, 3, 2, 5, 6], "an empty search keeps all");

    let filtered = |filter: HouseholdFilter| {
        numbers(&all(HouseholdQuery {
            filter,
            ..HouseholdQuery::default()
        }))
    };
    assert_eq!(filtered(HouseholdFilter::Unvisited), [7, 4, 3]);
    assert_eq!(filtered(HouseholdFilter::BelowLine), [2, 5]);
    assert_eq!(filtered(HouseholdFilter::Risk), [2, 6]);
    assert_eq!(filtered(HouseholdFilter::Gap), [5]);
    assert!(filtered(HouseholdFilter::Relocated).is_empty());
    let edge = all(HouseholdQuery {
        risk_category: Some("edge".into()),
        ..HouseholdQuery::default()
    });
    assert_eq!((numbers(&edge), edge.total), (vec![6], 1));
    let group = all(HouseholdQuery {
        area: Some(V1.into()),
        group: Some("1组".into()),
        ..HouseholdQuery::default()
    });
    assert_eq!(numbers(&group), [1, 3]);
    let combined = all(HouseholdQuery {
        area: Some(TOWNSHIP.into()),
        filter: HouseholdFilter::BelowLine,
        search: Some("陈".into()),
        ..HouseholdQuery::default()
    });
    assert_eq!((numbers(&combined), combined.total), (vec![5], 1));

    // Never visited first (by id), then the longest unvisited.
    let by_visit = all(HouseholdQuery {
        sort: HouseholdSort::LastVisit,
        ..HouseholdQuery::default()
    });
    assert_eq!(numbers(&by_visit), [3, 4, 7, 2, 1, 6, 5]);
    // Lowest income first, households without one last (by id).
    let by_income = all(HouseholdQuery {
        sort: HouseholdSort::Income,
        ..HouseholdQuery::default()
    });
    assert_eq!(numbers(&by_income), [5, 2, 6, 1, 3, 4, 7]);
    let income_page = page(
        &Scope::All,
        HouseholdQuery {
            sort: HouseholdSort::Income,
            ..HouseholdQuery::default()
        },
        Page::number(2, 2),
    );
    assert_eq!(numbers(&income_page), [6, 1]);

    // A supervisor's lists stop at its township.
    let own = page(&township(), HouseholdQuery::default(), Page::number(1, 50));
    assert_eq!((numbers(&own), own.total), (vec![4, 1, 3, 2, 5], 5));
    let own_search = page(
        &township(),
        HouseholdQuery {
            search: Some("赵".into()),
            ..HouseholdQuery::default()
        },
        Page::number(1, 50),
    );
    assert_eq!(own_search.total, 0, "a name outside the scope is not found");
    for outside in [OTHER_TOWNSHIP, COUNTY, V3] {
        let query = HouseholdQuery {
            area: Some(outside.into()),
            ..HouseholdQuery::default()
        };
        assert!(not_found(store.households_page(&township(), &query, Page::number(1, 50))));
    }
}

#[test]
fn the_at_risk_list_and_its_income_bands() {
    let (_database, store) = imported();
    // Incomes at the edges of the 2,000-yuan bands: a quotient such as
    // 3,999.5 / 2,000 must fall in band 1 (a cast would round it to 2 on
    // PostgreSQL).
    // Household, per-capita income, below the line, risk category.
    type Facts = (u128, Option<f64>, Option<i64>, Option<&'static str>);
    let facts: [Facts; 7] = [
        (1, Some(-5.0), Some(0), Some("none")),
        (2, Some(1_999.99), Some(1), None),
        (3, Some(2_000.0), Some(0), None),
        (4, Some(3_999.5), Some(1), None),
        (5, Some(19_999.99), Some(0), None),
        (6, Some(20_000.0), Some(0), Some("unstable")),
        (7, None, None, Some("edge")),
    ];
    store
        .write(|tx| {
            for (number, income, below, risk) in &facts {
                tx.execute(
                    "UPDATE household_facts SET per_capita_income = ?2, below_line = ?3,
                         risk_category = ?4
                     WHERE household_id = ?1",
                    &[&id(*number), income, below, risk],
                )?;
            }
            Ok(())
        })
        .unwrap();
    let bands = |list: &RiskList| -> Vec<(f64, u64)> {
        list.distribution
            .iter()
            .map(|bucket| (bucket.from, bucket.households))
            .collect()
    };
    let expected = |counts: [u64; 11]| -> Vec<(f64, u64)> {
        counts
            .iter()
            .enumerate()
            .map(|(band, count)| (band as f64 * 2_000.0, *count))
            .collect()
    };

    let all = store.risk_page(&Scope::All, None, Page::number(1, 50)).unwrap();
    assert_eq!(bands(&all), expected([2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1]));
    assert_eq!((numbers(&all.list), all.list.total), (vec![2, 4, 6, 7], 4));
    let second = store.risk_page(&Scope::All, None, Page::number(2, 2)).unwrap();
    assert_eq!((numbers(&second.list), second.list.total), (vec![6, 7], 4));

    let own = store.risk_page(&township(), None, Page::number(1, 50)).unwrap();
    assert_eq!(bands(&own), expected([2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0]));
    assert_eq!(numbers(&own.list), [2, 4]);
    let village = store.risk_page(&Scope::All, Some(V3), Page::number(1, 50)).unwrap();
    assert_eq!(bands(&village), expected([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    assert_eq!(numbers(&village.list), [6]);
    assert!(not_found(store.risk_page(&township(), Some(V3), Page::number(1, 50))));
}

#[test]
fn members_coming_home_by_date() {
    let (_database, store) = imported();
    visited(&store);
    let query = |area: Option<&str>, from: &str, to: &str| MigrantsQuery {
        area: area.map(Into::into),
        from: from.into(),
        to: to.into(),
    };
    let listed = |scope: &Scope, query: &MigrantsQuery, page: Page| {
        let (rows, total) = store.migrants_page(scope, query, page).unwrap();
        let rows: Vec<(String, u128, String)> = rows
            .into_iter()
            .map(|row| {
                (
                    row.return_date.unwrap(),
                    Uuid::parse_str(&row.household_id).unwrap().as_u128(),
                    row.name.unwrap(),
                )
            })
            .collect();
        (rows, total)
    };
    let line = |date: &str, household: u128, name: &str| (date.to_owned(), household, name.to_owned());

    // By date, then household, then place in the list; both ends included.
    let january = query(None, "2099-01-01", "2099-02-01");
    assert_eq!(
        listed(&Scope::All, &january, Page::number(1, 50)),
        (
            vec![
                line("2099-01-20", 2, "王小军"),
                line("2099-01-20", 5, "陈军"),
                line("2099-02-01", 2, "王小红"),
            ],
            3
        )
    );
    assert_eq!(
        listed(&Scope::All, &january, Page::number(2, 2)),
        (vec![line("2099-02-01", 2, "王小红")], 3)
    );
    let (rows, _) = store
        .migrants_page(&Scope::All, &january, Page::number(1, 1))
        .unwrap();
    let first = &rows[0];
    assert_eq!(
        (
            first.head_name.as_str(),
            first.village.as_str(),
            first.group.as_str(),
            first.destination.as_deref(),
            first.city.as_deref(),
            first.employer.as_deref()
        ),
        ("王建国", "中坝村", "2组", Some("outside_province"), Some("宁波"), Some("电子厂"))
    );
    assert_eq!(
        listed(&Scope::All, &query(Some(V2), "2099-01-01", "2099-12-31"), Page::number(1, 50)),
        (vec![line("2099-01-20", 5, "陈军")], 1)
    );
    assert_eq!(
        listed(&Scope::All, &query(Some(OTHER_TOWNSHIP), "2000-01-01", "2999-12-31"), Page::number(1, 50)),
        (vec![line("2099-03-01", 6, "赵强")], 1),
        "a member without a return date is never listed"
    );
    assert_eq!(
        listed(&township(), &query(None, "2099-01-01", "2099-12-31"), Page::number(1, 50)).1,
        3
    );
    assert_eq!(
        listed(&Scope::All, &query(None, "2099-01-21", "2099-01-31"), Page::number(1, 50)),
        (vec![], 0)
    );
    assert!(not_found(store.migrants_page(
        &township(),
        &query(Some(V3), "2000-01-01", "2999-12-31"),
        Page::number(1, 50)
    )));
}
}
