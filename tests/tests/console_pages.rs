//! The console's pages against the real server on port 0, with visits a
//! real device recorded and synced: progress drills down from the county
//! to the group, households are searched and filtered, a household's page
//! shows its visits under the form's labels, the at-risk and coming-home
//! lists read the latest visit, and a supervisor of one township sees
//! nothing of another (the full route × role matrix is
//! `authorization_matrix.rs`).

use doorstep_core::NewVisit;
use doorstep_e2e::console::{location, page, signed_in};
use doorstep_e2e::{VILLAGE_A, VILLAGE_B, World, answers, sync};
use doorstep_server::store::Role;
use reqwest::StatusCode;
use serde_json::json;

const TOWNSHIP_A: &str = "530626104";
const TOWNSHIP_B: &str = "530623206";

/// A world where a device of village A recorded two visits: one ordinary
/// (喻兰's), one below the line with a member working away (王建国's).
fn visited_world() -> World {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("the device pulls its households");
    doorstep_e2e::record(&device, world.village_a[0]);
    let mut poor = answers(2);
    poor.insert("income_wages".into(), json!(9000));
    poor.insert("income_business".into(), json!(0));
    poor.insert("risk_category".into(), json!("unstable"));
    poor.insert(
        "migrants".into(),
        json!([{"migrant_name": "王小军", "destination": "outside_province", "city": "宁波",
                "employer": "电子厂", "monthly_income": 4800, "return_date": "2099-01-20"}]),
    );
    device
        .record_visit(NewVisit {
            household_id: world.village_a[1],
            form_id: None,
            answers: poor,
            draft: false,
            corrects: None,
        })
        .expect("a visit");
    sync(&device).expect("the visits reach the server");
    world
}

/// The text of the `<td class="…">` cells of one class, in order.
fn cells(page: &str, class: &str) -> Vec<String> {
    let marker = format!("class=\"num {class}\">");
    page.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &page[at + marker.len()..];
            rest[..rest.find('<').unwrap_or(0)].to_owned()
        })
        .collect()
}

#[test]
fn progress_drills_down_from_the_county_to_the_group() {
    let world = visited_world();
    let url = world.url();
    let admin = signed_in(&world, "operator", Role::Admin, None);

    let top = page(&format!("{url}/console/progress"), &admin, StatusCode::OK);
    assert!(
        top.contains("绥江县") && top.contains("盐津县"),
        "both counties"
    );
    // By county code: 盐津县 (530623, village B), then 绥江县 (530626).
    assert_eq!(cells(&top, "households"), ["2", "3"]);
    assert_eq!(cells(&top, "visited"), ["0", "2"]);
    assert_eq!(cells(&top, "not-visited"), ["2", "1"]);
    assert!(top.contains("id=\"visits-per-day\""), "the chart");

    let county = page(
        &format!("{url}/console/progress?area=530626"),
        &admin,
        StatusCode::OK,
    );
    assert!(county.contains(&format!("href=\"/console/progress?area={TOWNSHIP_A}\"")));
    let village = page(
        &format!("{url}/console/progress?area={VILLAGE_A}"),
        &admin,
        StatusCode::OK,
    );
    assert!(
        village.contains(&format!(
            "href=\"/console/households?area={VILLAGE_A}&amp;group=2%E7%BB%84\""
        )),
        "a village's rows are its groups, linking to their households"
    );
    assert_eq!(cells(&village, "visited"), ["2"]);
    assert_eq!(cells(&village, "recent"), ["2"]);
}

#[test]
fn a_supervisor_sees_only_its_township() {
    let world = visited_world();
    let url = world.url();
    let supervisor = signed_in(&world, "li.juan", Role::Supervisor, Some(TOWNSHIP_A));

    let own = page(
        &format!("{url}/console/progress"),
        &supervisor,
        StatusCode::OK,
    );
    assert!(own.contains("中坝村") && !own.contains("盐津县"));
    for path in [
        format!("/console/progress?area={TOWNSHIP_B}"),
        "/console/progress?area=530626".to_owned(),
        format!("/console/households?area={VILLAGE_B}"),
        format!("/console/households/{}", world.village_b[0]),
        format!("/console/risk?area={TOWNSHIP_B}"),
        format!("/console/coming-home?area={VILLAGE_B}"),
    ] {
        let text = page(&format!("{url}{path}"), &supervisor, StatusCode::NOT_FOUND);
        assert!(
            !text.contains("李春花") && !text.contains("牛塘村"),
            "{path}"
        );
    }
    let list = page(
        &format!("{url}/console/households"),
        &supervisor,
        StatusCode::OK,
    );
    assert_eq!(list.matches("class=\"household\"").count(), 3);
    assert!(!list.contains("李春花") && !list.contains("龙发"));
    // The search cannot reach across either.
    let search = page(
        &format!("{url}/console/households?q=%E6%98%A5%E8%8A%B1"),
        &supervisor,
        StatusCode::OK,
    );
    assert_eq!(search.matches("class=\"household\"").count(), 0);
}

#[test]
fn households_are_searched_and_filtered_and_show_their_visits() {
    let world = visited_world();
    let url = world.url();
    let admin = signed_in(&world, "operator", Role::Admin, None);
    let count = |query: &str| {
        page(
            &format!("{url}/console/households?{query}"),
            &admin,
            StatusCode::OK,
        )
        .matches("class=\"household\"")
        .count()
    };
    assert_eq!(count(""), 5);
    // The phone's rule: one character of a name, spaces ignored.
    assert_eq!(count("q=%E5%BB%BA"), 1, "建");
    assert_eq!(count("q=%E6%AC%A7%E9%98%B3+%E5%A8%9C"), 1, "欧阳 娜");
    assert_eq!(count("filter=unvisited"), 3);
    assert_eq!(count("filter=below_line"), 1);
    assert_eq!(count("filter=risk"), 2, "edge and unstable");
    assert_eq!(count("risk=unstable"), 1);
    assert_eq!(count("filter=gap"), 2, "unsafe water in both visits");
    assert_eq!(count("filter=relocated"), 0);
    let bad = doorstep_e2e::console::get(
        &format!("{url}/console/households?filter=nonsense"),
        Some(&admin),
    );
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let household = page(
        &format!("{url}/console/households/{}", world.village_a[1]),
        &admin,
        StatusCode::OK,
    );
    assert_eq!(household.matches("<article class=\"visit\"").count(), 1);
    for shown in ["王建国", "宁波", "电子厂", "脱贫不稳定户"] {
        assert!(household.contains(shown), "{shown} on the household page");
    }
    let english = doorstep_e2e::console::get(
        &format!("{url}/console/households/{}", world.village_a[1]),
        Some(&format!("{admin}; doorstep_lang=en")),
    )
    .text()
    .expect("a page");
    assert!(english.contains("<html lang=\"en\""));
    assert!(
        english.contains("Unstable poverty-relieved household"),
        "choices in the reader's language"
    );
    let unknown = doorstep_e2e::console::get(
        &format!("{url}/console/households/not-a-uuid"),
        Some(&admin),
    );
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_at_risk_and_coming_home_lists_read_the_latest_visits() {
    let world = visited_world();
    let url = world.url();
    let admin = signed_in(&world, "operator", Role::Admin, None);
    let risk = page(&format!("{url}/console/risk"), &admin, StatusCode::OK);
    assert_eq!(risk.matches("class=\"household\"").count(), 2);
    assert!(
        risk.find("王建国") < risk.find("喻兰"),
        "lowest income first"
    );
    assert!(risk.contains("id=\"income-distribution\""));

    let home = page(
        &format!("{url}/console/coming-home?from=2099-01-01&to=2099-02-28"),
        &admin,
        StatusCode::OK,
    );
    assert!(home.contains("data-date=\"2099-01-20\"") && home.contains("王小军"));
    let none = page(
        &format!("{url}/console/coming-home?from=2099-03-01&to=2099-03-31"),
        &admin,
        StatusCode::OK,
    );
    assert!(!none.contains("王小军"));
    let bad = doorstep_e2e::console::get(
        &format!("{url}/console/coming-home?from=tomorrow"),
        Some(&admin),
    );
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let switch = doorstep_e2e::console::get(
        &format!("{url}/console/lang?to=en&back=https://evil.example/"),
        Some(&admin),
    );
    assert_eq!(location(&switch), "/console/", "never an open redirect");
}

#[test]
fn a_supervisor_restores_a_conflict_from_the_review_page() {
    let mut world = World::new();
    let a = world.device(world.cadre(VILLAGE_A));
    let b = world.device(world.cadre(VILLAGE_A));
    for device in [&a, &b] {
        sync(device).expect("households");
    }
    let household = world.village_a[2];
    let phone = |value: &str| [(doorstep_protocol::HouseholdField::Phone, json!(value))];
    a.edit_household(household, &phone("13900000001"))
        .expect("an edit");
    b.edit_household(household, &phone("13900000002"))
        .expect("an edit");
    for device in [&a, &b, &a] {
        sync(device).expect("sync");
    }
    let url = world.url();
    let other = signed_in(&world, "zhou.min", Role::Supervisor, Some(TOWNSHIP_B));
    let supervisor = signed_in(&world, "li.juan", Role::Supervisor, Some(TOWNSHIP_A));

    let hidden = page(&format!("{url}/console/review"), &other, StatusCode::OK);
    assert!(
        !hidden.contains("class=\"conflict\""),
        "another township's conflict"
    );
    let review = page(
        &format!("{url}/console/review"),
        &supervisor,
        StatusCode::OK,
    );
    let marker = "data-conflict-id=\"";
    let start = review.find(marker).expect("a conflict row") + marker.len();
    let id = &review[start..start + review[start..].find('"').expect("an id")];
    let token = doorstep_e2e::console::csrf(&review);
    let post = |cookie: &str, body: &str| {
        doorstep_e2e::console::post_form(
            &format!("{url}/console/review/conflicts/{id}"),
            Some(cookie),
            body,
        )
        .status()
    };
    assert_eq!(
        post(
            &supervisor,
            &format!("csrf={}&decision=restore", "0".repeat(64))
        ),
        StatusCode::FORBIDDEN
    );
    let other_token = doorstep_e2e::console::csrf(&hidden);
    assert_eq!(
        post(&other, &format!("csrf={other_token}&decision=restore")),
        StatusCode::NOT_FOUND,
        "another township's supervisor cannot decide it"
    );
    assert_eq!(
        post(&supervisor, &format!("csrf={token}&decision=maybe")),
        StatusCode::BAD_REQUEST
    );
    let kept = world
        .store
        .household(household)
        .expect("reads")
        .expect("a household")
        .phone;
    assert_eq!(
        post(&supervisor, &format!("csrf={token}&decision=restore")),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        post(&supervisor, &format!("csrf={token}&decision=keep")),
        StatusCode::BAD_REQUEST,
        "a conflict is decided once"
    );
    let restored = world
        .store
        .household(household)
        .expect("reads")
        .expect("a household")
        .phone;
    assert_ne!(restored, kept, "the other value is back");
    let after = page(
        &format!("{url}/console/review?all=1"),
        &supervisor,
        StatusCode::OK,
    );
    assert!(
        after.contains("class=\"badge ok\""),
        "the row shows the decision"
    );
    for device in [&a, &b] {
        sync(device).expect("sync");
        let record = device
            .household(household)
            .expect("reads")
            .expect("a household")
            .record;
        assert_eq!(record.phone, restored, "each phone receives the decision");
    }
}

#[test]
fn the_export_page_downloads_the_scopes_visits_and_is_audited() {
    use calamine::Reader;
    let world = visited_world();
    let url = world.url();
    let supervisor = signed_in(&world, "li.juan", Role::Supervisor, Some(TOWNSHIP_A));
    let form = page(
        &format!("{url}/console/export"),
        &supervisor,
        StatusCode::OK,
    );
    assert!(form.contains("id=\"export\"") && form.contains("中坝村"));
    assert!(
        !form.contains("牛塘村"),
        "only villages of the scope are offered"
    );

    let response = doorstep_e2e::console::get(
        &format!("{url}/console/export/visits?format=xlsx&choices=labels&area={TOWNSHIP_A}"),
        Some(&supervisor),
    );
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().expect("a workbook").to_vec();
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("an XLSX");
    let sheets = workbook.sheet_names();
    let visits = workbook
        .worksheet_range(&sheets[0])
        .expect("the visits sheet");
    assert_eq!(visits.height(), 1 + 2, "a header and the two visits");
    assert!(
        sheets.iter().any(|sheet| sheet.contains("migrants")),
        "{sheets:?}"
    );

    let elsewhere = doorstep_e2e::console::get(
        &format!("{url}/console/export/visits?format=csv&area={TOWNSHIP_B}"),
        Some(&supervisor),
    );
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let audit = world
        .store
        .audit(10, Some(doorstep_server::store::AuditKind::VisitsExported))
        .expect("the audit log");
    assert_eq!(audit.len(), 2, "both questions are audited");
    assert!(audit.iter().all(|entry| entry.user_id.is_some()));
    assert!(
        audit[1]
            .detail
            .as_deref()
            .is_some_and(|detail| detail.starts_with("xlsx area=530626104"))
    );
}
