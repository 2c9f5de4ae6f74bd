//! The simulator's invariants, checked once the network healed and every
//! device synced until quiet (the list is in the parent module's header).

use super::*;

impl Sim {
    pub(super) fn check(&mut self) -> Result<(), String> {
        let server_visits = {
            let mut ids = Vec::new();
            self.server()
                .export_visits(&mut |visit| {
                    ids.push((visit.id, visit.household_id));
                    Ok(())
                })
                .map_err(|error| error.to_string())?;
            ids
        };
        // 1. Every finalised visit exactly once.
        let mut seen = BTreeSet::new();
        for (id, _) in &server_visits {
            if !seen.insert(*id) {
                return Err(format!("visit {id} is on the server twice"));
            }
        }
        let missing: Vec<_> = self.visits.difference(&seen).collect();
        if !missing.is_empty() {
            return Err(format!(
                "finalised visits missing on the server: {missing:?}"
            ));
        }
        let unknown: Vec<_> = seen.difference(&self.visits).collect();
        if !unknown.is_empty() {
            return Err(format!(
                "visits on the server no device finalised: {unknown:?}"
            ));
        }
        let assignments = self
            .server()
            .assignments()
            .map_err(|error| error.to_string())?;
        let conflicts = self
            .server()
            .conflicts(None)
            .map_err(|error| error.to_string())?;
        self.stats.conflicts = conflicts.len() as u64;
        for index in 0..self.devices.len() {
            let cadre = self.devices[index].cadre;
            let scope: BTreeSet<Uuid> = assignments
                .iter()
                .filter(|assignment| assignment.cadre_id == cadre)
                .filter_map(|assignment| match &assignment.target {
                    AssignmentTarget::Household(id) => Some(*id),
                    AssignmentTarget::Village(_) => None,
                })
                .collect();
            let store = self.store(index);
            // 2. Nothing pending or rejected.
            let status = store.status().map_err(|error| error.to_string())?;
            if status.pending > 0 || status.rejected > 0 {
                return Err(format!(
                    "device {index} still has {} pending and {} rejected changes (last error: {:?})",
                    status.pending, status.rejected, status.last_error
                ));
            }
            // 3. Exactly its scope, as the server has it.
            let households = store.households(None).map_err(|error| error.to_string())?;
            let held: BTreeSet<Uuid> = households
                .iter()
                .map(|household| household.record.id)
                .collect();
            let drafted: BTreeSet<Uuid> = store
                .visits(None)
                .map_err(|error| error.to_string())?
                .iter()
                .filter(|visit| visit.status == doorstep_core::VisitStatus::Draft)
                .map(|visit| visit.household_id)
                .collect();
            // A household kept only for a draft of this device is allowed.
            let outside: Vec<_> = held
                .difference(&scope)
                .filter(|id| !drafted.contains(id))
                .collect();
            if !outside.is_empty() {
                return Err(format!(
                    "device {index} holds households outside its scope: {outside:?}"
                ));
            }
            let absent: Vec<_> = scope.difference(&held).collect();
            if !absent.is_empty() {
                return Err(format!(
                    "device {index} lacks households of its scope: {absent:?}"
                ));
            }
            for household in households
                .iter()
                .filter(|household| scope.contains(&household.record.id))
            {
                let server = self
                    .server()
                    .household(household.record.id)
                    .map_err(|error| error.to_string())?
                    .ok_or("a household vanished from the server")?;
                if household.record != server {
                    return Err(format!(
                        "device {index} has household {} at {:?}, the server at {:?}",
                        server.id, household.record, server
                    ));
                }
                if !household.assigned {
                    return Err(format!("device {index} holds {} as unassigned", server.id));
                }
            }
            let store = self.devices[index].store.as_ref().expect("opened");
            let device_visits: BTreeSet<Uuid> = store
                .visits(None)
                .map_err(|error| error.to_string())?
                .iter()
                .filter(|visit| {
                    visit.status == doorstep_core::VisitStatus::Final
                        && scope.contains(&visit.household_id)
                })
                .map(|visit| visit.id)
                .collect();
            let expected: BTreeSet<Uuid> = server_visits
                .iter()
                .filter(|(_, household)| scope.contains(household))
                .map(|(id, _)| *id)
                .collect();
            if device_visits != expected {
                return Err(format!(
                    "device {index}'s visits differ from the server's: missing {:?}, extra {:?}",
                    expected.difference(&device_visits).collect::<Vec<_>>(),
                    device_visits.difference(&expected).collect::<Vec<_>>()
                ));
            }
            let device_conflicts = store.conflicts(None).map_err(|error| error.to_string())?;
            let expected_conflicts: Vec<_> = conflicts
                .iter()
                .filter(|conflict| scope.contains(&conflict.household_id))
                .cloned()
                .collect();
            let in_scope: Vec<_> = device_conflicts
                .into_iter()
                .filter(|conflict| scope.contains(&conflict.household_id))
                .collect();
            if in_scope != expected_conflicts {
                return Err(format!(
                    "device {index} shows {} conflicts of its households, the server has {}",
                    in_scope.len(),
                    expected_conflicts.len()
                ));
            }
        }
        // 4 and 5, from the server's field log.
        let mut history = BTreeMap::new();
        for household in &self.households {
            history.insert(
                *household,
                self.server()
                    .household_history(*household)
                    .map_err(|error| error.to_string())?,
            );
        }
        for (device, household, field, value) in &self.edits {
            let initial = field.get(&self.initial[household]);
            let written = history[household]
                .iter()
                .any(|write| write.field == *field && write.value == *value);
            let logged = conflicts.iter().any(|conflict| {
                conflict.household_id == *household
                    && conflict.field == *field
                    && conflict.lost == *value
            });
            if !(written || logged || initial == *value) {
                return Err(format!(
                    "device {device}'s edit {field}={value} of {household} is neither on the server nor in the conflict log"
                ));
            }
        }
        for (household, writes) in &history {
            let mut last: BTreeMap<HouseholdField, &doorstep_server::store::FieldHistory> =
                BTreeMap::new();
            for write in writes {
                if let Some(before) = last.get(&write.field) {
                    let unseen =
                        write.base_version < before.version && write.origin != before.origin;
                    if unseen && write.value != before.value {
                        let logged = conflicts.iter().any(|conflict| {
                            conflict.household_id == *household
                                && conflict.field == write.field
                                && conflict.version == write.version
                                && conflict.lost == before.value
                                && conflict.kept == write.value
                        });
                        if !logged {
                            return Err(format!(
                                "{household}: {} at version {} silently replaced {} (written at version {})",
                                write.field, write.version, before.value, before.version
                            ));
                        }
                    }
                }
                last.insert(write.field, write);
            }
        }
        Ok(())
    }
}
