//! `doorstep admin files --missing`: the visits whose files (photos,
//! audio notes) have not all reached the server, oldest received first.
//! The list is data (stdout); the count is a message (stderr).

use doorstep_server::ServerStore;

use crate::output::print_json;

pub fn missing(store: &ServerStore, json: bool) -> anyhow::Result<()> {
    let visits = store.missing_files()?;
    if json {
        print_json(&visits)?;
    } else {
        for visit in &visits {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                visit.visit_id,
                visit.household_id,
                visit.device_id,
                visit.received_at,
                visit.missing.len(),
                visit.missing.join(",")
            );
        }
    }
    let files: usize = visits.iter().map(|visit| visit.missing.len()).sum();
    eprintln!("{} visits wait for {files} files", visits.len());
    Ok(())
}
