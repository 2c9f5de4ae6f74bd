//! `doorstep device storage` and `doorstep device retention`: what the
//! store takes on disk, and the retention policy that bounds it (ADR 0011,
//! "Space is given back"). Sizes only: nothing here names a household.

use clap::Args;
use doorstep_core::Store;
use doorstep_core::store::{RetentionPolicy, RetentionReport, StorageReport};
use serde::Serialize;

use crate::output::{invalid, out, print_json};

/// Bytes in one MiB, the unit of `--synced-files-max-mb`.
const MIB: u64 = 1024 * 1024;

#[derive(Debug, Args)]
pub(super) struct RetentionArgs {
    /// Remove files the server holds N days after it confirmed them (0: at
    /// the next retention). Never files it does not hold yet.
    #[arg(long, value_name = "N")]
    synced_files_days: Option<u32>,
    /// … and, oldest confirmed first, while together they take more than M
    /// MiB.
    #[arg(long, value_name = "M")]
    synced_files_max_mb: Option<u64>,
    /// Remove visits pulled from the server beyond the newest K of each
    /// household (this device's own visits are kept and count).
    #[arg(long, value_name = "K")]
    visits_per_household: Option<u32>,
    /// Clear the policy: keep everything for ever.
    #[arg(long, conflicts_with_all = ["synced_files_days", "synced_files_max_mb", "visits_per_household"])]
    keep_forever: bool,
    /// Apply the policy now (a sync does after each successful run) and
    /// print what it removed.
    #[arg(long)]
    apply: bool,
    #[arg(long)]
    json: bool,
}

/// `device retention --json`: the policy, and what `--apply` removed.
#[derive(Debug, Serialize)]
struct RetentionOutput {
    policy: RetentionPolicy,
    applied: Option<RetentionReport>,
}

pub(super) fn storage(store: &Store, json: bool) -> anyhow::Result<()> {
    let report = store.storage()?;
    if json {
        return print_json(&report);
    }
    print_storage(&report)
}

pub(super) fn retention(store: &Store, args: RetentionArgs) -> anyhow::Result<()> {
    let mut policy = store.retention()?;
    let changes = args.synced_files_days.is_some()
        || args.synced_files_max_mb.is_some()
        || args.visits_per_household.is_some();
    if args.keep_forever {
        policy = RetentionPolicy::default();
    }
    if let Some(days) = args.synced_files_days {
        policy.synced_files_days = Some(days);
    }
    if let Some(megabytes) = args.synced_files_max_mb {
        let bytes = megabytes
            .checked_mul(MIB)
            .filter(|bytes| i64::try_from(*bytes).is_ok())
            .ok_or_else(|| invalid(format!("--synced-files-max-mb {megabytes} is too large")))?;
        policy.synced_files_max_bytes = Some(bytes);
    }
    if let Some(visits) = args.visits_per_household {
        policy.visits_per_household = Some(visits);
    }
    if changes || args.keep_forever {
        store.set_retention(&policy)?;
        eprintln!(
            "retention set; it applies after each successful sync{}",
            if args.apply { " and now" } else { "" }
        );
    }
    let applied = if args.apply {
        let report = store.apply_retention()?;
        eprintln!(
            "removed {} file(s) ({}) and {} pulled visit(s); the store is {} smaller on disk",
            report.files_removed,
            size(report.bytes_removed),
            report.visits_removed,
            size(report.bytes_reclaimed)
        );
        Some(report)
    } else {
        None
    };
    if args.json {
        return print_json(&RetentionOutput { policy, applied });
    }
    print_policy(&policy)?;
    if let Some(report) = applied {
        out!("files_removed\t{}", report.files_removed);
        out!("bytes_removed\t{}", report.bytes_removed);
        out!("visits_removed\t{}", report.visits_removed);
        out!("bytes_reclaimed\t{}", report.bytes_reclaimed);
    }
    Ok(())
}

/// One `kind\tcount\tbytes (size)` line each, then the policy.
fn print_storage(report: &StorageReport) -> anyhow::Result<()> {
    out!(
        "disk\t-\t{}\t(the database and its WAL)",
        bytes(report.disk_bytes)
    );
    out!(
        "free\t-\t{}\t(given back at the next retention)",
        bytes(report.free_bytes)
    );
    out!("files\t{}\t{}", report.files, bytes(report.file_bytes));
    out!(
        "files_pending\t{}\t{}\t(not on the server yet: never removed)",
        report.files_pending,
        bytes(report.bytes_pending)
    );
    out!("visits\t{}\t{}", report.visits, bytes(report.visit_bytes));
    out!("pulled_visits\t{}\t-", report.pulled_visits);
    out!("households\t{}\t-", report.households);
    print_policy(&report.policy)
}

fn print_policy(policy: &RetentionPolicy) -> anyhow::Result<()> {
    let or_forever = |value: Option<String>| value.unwrap_or_else(|| "keep for ever".into());
    out!(
        "synced_files_days\t{}",
        or_forever(policy.synced_files_days.map(|days| days.to_string()))
    );
    out!(
        "synced_files_max_bytes\t{}",
        or_forever(policy.synced_files_max_bytes.map(bytes))
    );
    out!(
        "visits_per_household\t{}",
        or_forever(policy.visits_per_household.map(|visits| visits.to_string()))
    );
    Ok(())
}

/// `6377472 (6.1 MiB)`: exact for scripts, readable for people.
fn bytes(value: u64) -> String {
    format!("{value} ({})", size(value))
}

fn size(value: u64) -> String {
    match value {
        value if value >= MIB => format!("{:.1} MiB", value as f64 / MIB as f64),
        value if value >= 10 * 1024 => format!("{:.1} KiB", value as f64 / 1024.0),
        value => format!("{value} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(900), "900 B");
        assert_eq!(size(300 * 1024), "300.0 KiB");
        assert_eq!(bytes(126 * MIB), "132120576 (126.0 MiB)");
    }
}
