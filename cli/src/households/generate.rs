//! The deterministic generator behind [`generate`]: picks townships by
//! county weight, opens villages in them with codes by the national
//! convention, and fills each village with households drawn from a seeded
//! rng. Everything here must stay deterministic, byte for byte once written
//! as CSV: the same seed gives the same rows on every platform.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::names::{
    COMMUNITY_NAMES, FEMALE_GIVEN, HAN_COMMON, HAN_OTHER, HUI_SURNAMES, MALE_GIVEN, MIAO_SURNAMES,
    PHONE_PREFIXES, VILLAGE_FIRST, VILLAGE_SECOND, YI_SURNAMES,
};
use super::places::{
    COUNTIES, EDGE_MARGIN, FIRST_COMMUNITY, FIRST_VILLAGE, HOUSEHOLD_RADIUS_KM, KM_PER_DEGREE_LAT,
    KM_PER_DEGREE_LON, LAST_COMMUNITY, LAST_VILLAGE, LAT_RANGE, LON_RANGE, TownshipSpec,
    VILLAGE_SPREAD,
};
use super::{EDGE, GENERAL, HouseholdRow, RELIEVED, SUDDEN_HARDSHIP, UNSTABLE};

/// 2024-01-02 09:00 Beijing time: the clock of the first generated id.
const START_MILLIS: u64 = 1_704_157_200_000;

const VILLAGE_SIZE: std::ops::RangeInclusive<usize> = 60..=150;
const VILLAGES_PER_VISIT: std::ops::RangeInclusive<usize> = 2..=6;

/// Weights of household sizes 1..=8 (most 3–5).
const MEMBER_WEIGHTS: [u32; 8] = [6, 14, 20, 24, 19, 10, 5, 2];

/// Shares of the three monitored categories (a few percent each).
const SHARE_UNSTABLE: f64 = 0.020;
const SHARE_EDGE: f64 = 0.025;
const SHARE_SUDDEN: f64 = 0.010;

/// A township while generating: where it is and which codes it has used.
struct TownshipState {
    county: usize,
    spec: &'static TownshipSpec,
    code: String,
    centre: Option<(f64, f64)>,
    visits: u32,
    known_used: usize,
    next_community: u16,
    next_village: u16,
    village_names: Vec<String>,
}

impl TownshipState {
    fn is_full(&self) -> bool {
        self.next_community > LAST_COMMUNITY && self.next_village > LAST_VILLAGE
    }
}

fn township_states() -> Vec<TownshipState> {
    let mut states = Vec::new();
    for (county, spec) in COUNTIES.iter().enumerate() {
        let (mut street, mut town, mut xiang) = (1u16, 101u16, 201u16);
        for township in spec.townships {
            let counter = if township.name.ends_with("街道") {
                &mut street
            } else if township.name.ends_with('镇') {
                &mut town
            } else {
                &mut xiang
            };
            let code = format!("{}{:03}", spec.code, *counter);
            *counter += 1;
            states.push(TownshipState {
                county,
                spec: township,
                code,
                centre: None,
                visits: 0,
                known_used: 0,
                next_community: FIRST_COMMUNITY,
                next_village: FIRST_VILLAGE,
                village_names: Vec::new(),
            });
        }
    }
    states
}

/// Picks a county by weight, then one of its least visited townships.
fn pick_township(rng: &mut StdRng, towns: &[TownshipState]) -> Option<usize> {
    let open = |county: usize| {
        towns
            .iter()
            .any(|town| town.county == county && !town.is_full())
    };
    let weights: Vec<u32> = (0..COUNTIES.len())
        .map(|c| if open(c) { COUNTIES[c].weight } else { 0 })
        .collect();
    let county = pick_weighted(rng, &weights)?;
    let candidates: Vec<usize> = (0..towns.len())
        .filter(|&i| towns[i].county == county && !towns[i].is_full())
        .collect();
    let fewest = candidates.iter().map(|&i| towns[i].visits).min()?;
    let least: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| towns[i].visits == fewest)
        .collect();
    Some(least[rng.random_range(0..least.len())])
}

/// An index drawn with the given weights; `None` when they are all zero.
fn pick_weighted(rng: &mut StdRng, weights: &[u32]) -> Option<usize> {
    let total: u32 = weights.iter().sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        if ticket < w {
            return Some(i);
        }
        ticket -= w;
    }
    None
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A point in the unit disk (rejection sampling: plain arithmetic only).
fn unit_disk(rng: &mut StdRng) -> (f64, f64) {
    loop {
        let x: f64 = rng.random_range(-1.0..=1.0);
        let y: f64 = rng.random_range(-1.0..=1.0);
        if x * x + y * y <= 1.0 {
            return (x, y);
        }
    }
}

pub(super) fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// One village being filled with households.
struct Village {
    county_code: &'static str,
    county: &'static str,
    township_code: String,
    township: &'static str,
    code: String,
    name: String,
    centre: (f64, f64),
    /// Last house number used in each group (index 0 is 1组).
    house_numbers: Vec<u32>,
    /// Share of poverty-relieved households, which varies between villages.
    relieved_share: f64,
    /// Weights of Han, Yi, Miao and Hui heads of household.
    ethnic_weights: [u32; 4],
}

/// Opens the township's next village; `None` when its codes are used up.
fn new_village(rng: &mut StdRng, town: &mut TownshipState) -> Option<Village> {
    if town.is_full() {
        return None;
    }
    let county = &COUNTIES[town.county];
    let centre = match town.centre {
        Some(centre) => centre,
        None => {
            let (x, y) = unit_disk(rng);
            let centre = (
                county.lat + x * county.spread,
                county.lon + y * county.spread,
            );
            town.centre = Some(centre);
            centre
        }
    };

    let name = if town.known_used < town.spec.villages.len() {
        town.known_used += 1;
        town.spec.villages[town.known_used - 1].to_string()
    } else {
        let community_chance = if town.spec.name.ends_with("街道") {
            0.6
        } else if town.spec.name.ends_with('镇') {
            0.08
        } else {
            0.03
        };
        let community = rng.random_bool(community_chance);
        village_name(rng, community, &town.village_names)
    };
    let wants_community = name.ends_with("社区");
    let counter = if (wants_community && town.next_community <= LAST_COMMUNITY)
        || town.next_village > LAST_VILLAGE
    {
        &mut town.next_community
    } else {
        &mut town.next_village
    };
    let code = format!("{}{:03}", town.code, *counter);
    *counter += 1;
    town.village_names.push(name.clone());

    let (x, y) = unit_disk(rng);
    let lat =
        (centre.0 + x * VILLAGE_SPREAD).clamp(LAT_RANGE.0 + EDGE_MARGIN, LAT_RANGE.1 - EDGE_MARGIN);
    let lon =
        (centre.1 + y * VILLAGE_SPREAD).clamp(LON_RANGE.0 + EDGE_MARGIN, LON_RANGE.1 - EDGE_MARGIN);

    let township = town.spec.name;
    let mut ethnic_weights = [86, 5, 5, 4];
    if township.contains("彝族") {
        ethnic_weights[1] += 25;
    }
    if township.contains("苗族") {
        ethnic_weights[2] += 25;
    }
    if township.contains("回族") {
        ethnic_weights[3] += 45;
    }

    Some(Village {
        county_code: county.code,
        county: county.name,
        township_code: town.code.clone(),
        township,
        code,
        name,
        centre: (lat, lon),
        house_numbers: vec![0; rng.random_range(4..=12)],
        relieved_share: rng.random_range(0.25..0.60),
        ethnic_weights,
    })
}

/// A village name not yet used in the township.
fn village_name(rng: &mut StdRng, community: bool, used: &[String]) -> String {
    let taken = |name: &str| used.iter().any(|u| u == name);
    for _ in 0..40 {
        let name = if community {
            format!("{}社区", pick(rng, COMMUNITY_NAMES))
        } else {
            format!(
                "{}{}村",
                pick(rng, VILLAGE_FIRST),
                pick(rng, VILLAGE_SECOND)
            )
        };
        if !taken(&name) {
            return name;
        }
    }
    // Crowded township: the first free name in order, then numbered ones.
    for first in VILLAGE_FIRST {
        for second in VILLAGE_SECOND {
            let name = format!("{first}{second}村");
            if !taken(&name) {
                return name;
            }
        }
    }
    format!("新建{}村", used.len() + 1)
}

impl Village {
    /// Appends `size` households, group by group, each with the next id.
    fn add(
        &mut self,
        rng: &mut StdRng,
        size: usize,
        clock: &mut u64,
        rows: &mut Vec<HouseholdRow>,
    ) {
        let groups = self.house_numbers.len();
        let mut per_group = vec![0usize; groups];
        for _ in 0..size {
            per_group[rng.random_range(0..groups)] += 1;
        }
        for (g, &n) in per_group.iter().enumerate() {
            for _ in 0..n {
                self.house_numbers[g] += rng.random_range(1..=2);
                let row = self.household(rng, g as u32 + 1, self.house_numbers[g], clock);
                rows.push(row);
            }
        }
    }

    fn household(
        &self,
        rng: &mut StdRng,
        group: u32,
        number: u32,
        clock: &mut u64,
    ) -> HouseholdRow {
        *clock += rng.random_range(1..=50);
        let mut random_bytes = [0u8; 10];
        rng.fill(&mut random_bytes);
        let id = uuid::Builder::from_unix_timestamp_millis(*clock, &random_bytes).into_uuid();

        let female = rng.random_bool(0.15);
        let head_name = self.head_name(rng, female);
        // 17th digit: odd for men, even for women; then the check character.
        let sex_digit = 2 * rng.random_range(0..5u32) + u32::from(!female);
        let check = rng.random_range(0..11u32);
        let id_card_suffix = format!(
            "{:02}{}{}",
            rng.random_range(0..100u32),
            sex_digit,
            if check == 10 {
                "X".to_string()
            } else {
                check.to_string()
            }
        );

        let members = pick_weighted(rng, &MEMBER_WEIGHTS).map_or(4, |i| i as u32 + 1);
        let phone = format!(
            "{}{:08}",
            pick(rng, PHONE_PREFIXES),
            rng.random_range(0..100_000_000u32)
        );

        let (x, y) = unit_disk(rng);
        let lat = round6(self.centre.0 + x * HOUSEHOLD_RADIUS_KM / KM_PER_DEGREE_LAT);
        let lon = round6(self.centre.1 + y * HOUSEHOLD_RADIUS_KM / KM_PER_DEGREE_LON);

        let draw: f64 = rng.random_range(0.0..1.0);
        let category = if draw < SHARE_UNSTABLE {
            UNSTABLE
        } else if draw < SHARE_UNSTABLE + SHARE_EDGE {
            EDGE
        } else if draw < SHARE_UNSTABLE + SHARE_EDGE + SHARE_SUDDEN {
            SUDDEN_HARDSHIP
        } else if draw < SHARE_UNSTABLE + SHARE_EDGE + SHARE_SUDDEN + self.relieved_share {
            RELIEVED
        } else {
            GENERAL
        };

        HouseholdRow {
            id,
            head_name,
            id_card_suffix,
            county_code: self.county_code.to_string(),
            county: self.county.to_string(),
            township_code: self.township_code.clone(),
            township: self.township.to_string(),
            village_code: self.code.clone(),
            village: self.name.clone(),
            group: format!("{group}组"),
            members,
            phone,
            address: format!(
                "{}{}{}{group}组{number}号",
                self.county, self.township, self.name
            ),
            lat,
            lon,
            category: category.to_string(),
        }
    }

    fn head_name(&self, rng: &mut StdRng, female: bool) -> String {
        let surname = match pick_weighted(rng, &self.ethnic_weights) {
            Some(1) => pick(rng, YI_SURNAMES),
            Some(2) => pick(rng, MIAO_SURNAMES),
            Some(3) => pick(rng, HUI_SURNAMES),
            _ if rng.random_bool(0.7) => pick(rng, HAN_COMMON),
            _ => pick(rng, HAN_OTHER),
        };
        let given = if female { FEMALE_GIVEN } else { MALE_GIVEN };
        let mut name = String::from(surname);
        name.push_str(pick(rng, given));
        if rng.random_bool(0.8) {
            name.push_str(pick(rng, given));
        }
        name
    }
}

/// `count` households, the same for the same `seed` (byte for byte in CSV).
/// Villages hold 60–150 households each (the last village may be smaller
/// when count runs out); villages belong to townships (a few villages each)
/// which belong to counties.
/// Ids are UUIDv7 built deterministically from the seeded rng
/// (`uuid::Builder::from_unix_timestamp_millis` with a timestamp that starts
/// on 2 January 2024 and increases per household, and seeded random bytes),
/// so ids sort in generation order.
/// Realistic proportions: most households "relieved" or "general", a few
/// percent in each of the three monitored categories.
///
/// Only beyond roughly nine million households, when every township's
/// village codes are used up, do the remaining households join the last
/// village.
pub fn generate(count: usize, seed: u64) -> Vec<HouseholdRow> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut towns = township_states();
    let mut rows = Vec::with_capacity(count);
    let mut clock = START_MILLIS;
    let mut last: Option<Village> = None;
    'fill: while rows.len() < count {
        let Some(town) = pick_township(&mut rng, &towns) else {
            break;
        };
        towns[town].visits += 1;
        for _ in 0..rng.random_range(VILLAGES_PER_VISIT) {
            if rows.len() >= count {
                break 'fill;
            }
            let Some(mut village) = new_village(&mut rng, &mut towns[town]) else {
                break;
            };
            let size = rng.random_range(VILLAGE_SIZE).min(count - rows.len());
            village.add(&mut rng, size, &mut clock, &mut rows);
            last = Some(village);
        }
    }
    if let Some(village) = last.as_mut() {
        let rest = count - rows.len();
        village.add(&mut rng, rest, &mut clock, &mut rows);
    }
    rows
}
