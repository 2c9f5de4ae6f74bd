//! The review's list of refused changes, on both backends: what a
//! supervisor sees of them, and what only an admin does.

#![allow(clippy::unwrap_used)]

use doorstep_protocol::{HouseholdField, Outcome};
use serde_json::json;

use super::tests::{
    FAR_TOWNSHIP, FAR_VILLAGE, TOWNSHIP, VILLAGE, device, edit, first_page, id, township, world,
};
use super::*;
use crate::store::testing::on_both_backends;

on_both_backends! {
    #[test]
    fn refused_changes_are_listed_within_the_scope() {
        let (_directory, store) = world();
        let here = device(&store, "王建国", VILLAGE);
        let far = device(&store, "龙发", FAR_VILLAGE);
        let members = (HouseholdField::Members, json!(-1));
        // A bad value, twice; an unknown household; a bad value far away.
        for _ in 0..2 {
            assert!(matches!(
                edit(&store, here, 1, id(1), 1, members.clone(), 1),
                Outcome::Rejected { .. }
            ));
        }
        assert!(matches!(
            edit(&store, here, 2, id(77), 1, members.clone(), 1),
            Outcome::Rejected { .. }
        ));
        assert!(matches!(
            edit(&store, far, 1, id(4), 1, members.clone(), 1),
            Outcome::Rejected { .. }
        ));

        let list = |scope: &Scope, filter: &RejectedFilter, page: Page| {
            store.rejected_page(scope, filter, page).unwrap()
        };
        let (rows, total) = list(&Scope::All, &RejectedFilter::default(), first_page());
        assert_eq!((rows.len(), total), (3, 3));
        let bad_value = rows
            .iter()
            .find(|row| row.by.device_id == here.device_id.to_string() && row.seq == 1)
            .unwrap();
        assert_eq!(bad_value.entity, "household_edit");
        assert_eq!(bad_value.code, "invalid");
        assert_eq!(bad_value.attempts, 2);
        assert_eq!(bad_value.household_id, Some(id(1).to_string()));
        assert_eq!(bad_value.head_name.as_deref(), Some("喻兰"));
        assert_eq!(bad_value.village, Some(format!("area {VILLAGE}")));
        assert_eq!(
            (bad_value.by.cadre.as_str(), bad_value.by.device.as_str()),
            ("王建国", "phone")
        );
        let unknown = rows.iter().find(|row| row.seq == 2).unwrap();
        assert_eq!(
            (unknown.household_id.clone(), unknown.head_name.clone()),
            (None, None)
        );

        // A supervisor sees the refusals of households in the area, and not
        // those of a household this server does not have.
        let (rows, total) = list(&township(), &RejectedFilter::default(), first_page());
        assert_eq!((rows.len(), total), (1, 1));
        assert_eq!(rows[0].household_id, Some(id(1).to_string()));
        let (rows, total) = list(
            &Scope::Area(FAR_TOWNSHIP.into()),
            &RejectedFilter::default(),
            first_page(),
        );
        assert_eq!((rows.len(), total), (1, 1));
        assert_eq!(rows[0].household_id, Some(id(4).to_string()));
        let elsewhere = RejectedFilter {
            area: Some(TOWNSHIP.into()),
            device: None,
        };
        assert!(matches!(
            store.rejected_page(&Scope::Area(FAR_TOWNSHIP.into()), &elsewhere, first_page()),
            Err(StoreError::NotFound(_))
        ));

        let of_device = RejectedFilter {
            area: None,
            device: Some(here.device_id),
        };
        let (rows, total) = list(
            &Scope::All,
            &of_device,
            Page {
                offset: 0,
                limit: 1,
            },
        );
        assert_eq!((rows.len(), total), (1, 2));
        let (rows, total) = list(
            &Scope::All,
            &of_device,
            Page {
                offset: 1,
                limit: 1,
            },
        );
        assert_eq!((rows.len(), total), (1, 2));
        let (rows, total) = list(&Scope::All, &elsewhere, first_page());
        assert_eq!(
            (rows.len(), total),
            (1, 1),
            "an area keeps only known households"
        );
        // The far device's refusals are not the township supervisor's.
        let far_device = RejectedFilter {
            area: None,
            device: Some(far.device_id),
        };
        assert_eq!(list(&township(), &far_device, first_page()).1, 0);
    }
}
