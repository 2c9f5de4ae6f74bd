//! Households as CSV: the row type shared by `doorstep gen households` and
//! `doorstep admin import-households`, and a deterministic generator of
//! synthetic households for demos, tests and load runs.
//!
//! Real household lists hold names, ID-card digits and phone numbers, so they
//! must never end up in a repository, a bug report or a demo. The generator
//! gives every environment realistic data instead: counties with their real
//! codes, townships and villages nested in Zhaotong's five levels (city,
//! county, township, village, group), Han, Yi, Miao and Hui names, household
//! sizes and categories in plausible proportions, and coordinates that put a
//! village's households close together. The same seed always gives the same
//! rows, byte for byte once written as CSV, with the same version of `rand`.
//!
//! The reader is the import side: it accepts what [`write_csv`] writes or what
//! an operator saved from a spreadsheet with the same header, and reports the
//! first problem with its line number and column — never with the cell's
//! content, which may be personal data.
//!
//! The module is split by concern: [`places`] holds the counties and
//! townships, [`names`] the name, village-name and phone tables,
//! [`generate`](mod@generate) the generator that draws from them, and
//! [`write`](mod@write) and [`read`](mod@read) the two sides of the CSV.
//! Outside it, only [`HouseholdRow`], [`CATEGORIES`] and the functions
//! [`generate()`], [`write_csv`] and [`read_csv`] are named;
//! [`ReadError`](read::ReadError) comes along as the error of [`read_csv`]
//! (no caller names it, so it is not re-exported).

mod generate;
mod names;
mod places;
mod read;
mod write;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use generate::generate;
pub use read::read_csv;
pub use write::write_csv;

/// One household, one CSV row. Field order is the column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseholdRow {
    /// The household id used everywhere (a UUIDv7).
    pub id: Uuid,
    /// 户主: name of the head of household.
    pub head_name: String,
    /// Last 4 characters of the head's 18-digit ID card: 3 digits, then a digit or `X`.
    pub id_card_suffix: String,
    /// 6-digit county code, e.g. `530626` for 绥江县.
    pub county_code: String,
    /// 县/区/市, e.g. 绥江县.
    pub county: String,
    /// 9 digits: the county code and 3 more.
    pub township_code: String,
    /// 乡/镇/街道, e.g. 南岸镇.
    pub township: String,
    /// 12 digits: the township code and 3 more.
    pub village_code: String,
    /// 村/社区, e.g. 中坝村.
    pub village: String,
    /// 村民小组, e.g. `3组`.
    pub group: String,
    /// 人口: persons in the household.
    pub members: u32,
    /// 11-digit mobile number.
    pub phone: String,
    /// Full address, e.g. `绥江县南岸镇中坝村3组17号`.
    pub address: String,
    /// Latitude, WGS84, 6 decimals.
    pub lat: f64,
    /// Longitude, WGS84, 6 decimals.
    pub lon: f64,
    /// One of [`CATEGORIES`].
    pub category: String,
}

/// Household categories as codes, shared with the server and the devices
/// (`doorstep_protocol::HOUSEHOLD_CATEGORIES`).
pub use doorstep_protocol::HOUSEHOLD_CATEGORIES as CATEGORIES;
/// 一般农户: an ordinary rural household.
const GENERAL: &str = CATEGORIES[0];
/// 脱贫户: a poverty-relieved household, still monitored.
const RELIEVED: &str = CATEGORIES[1];
/// 脱贫不稳定户: a poverty-relieved household at risk of falling back.
const UNSTABLE: &str = CATEGORIES[2];
/// 边缘易致贫户: a household on the edge of poverty.
const EDGE: &str = CATEGORIES[3];
/// 突发严重困难户: a household hit by a sudden severe hardship.
const SUDDEN_HARDSHIP: &str = CATEGORIES[4];

/// The CSV header, in the struct's field order.
const COLUMNS: [&str; 16] = [
    "id",
    "head_name",
    "id_card_suffix",
    "county_code",
    "county",
    "township_code",
    "township",
    "village_code",
    "village",
    "group",
    "members",
    "phone",
    "address",
    "lat",
    "lon",
    "category",
];
