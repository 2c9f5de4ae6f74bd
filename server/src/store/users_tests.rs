//! Console accounts and sessions, on both backends.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::store::testing::on_both_backends;
use crate::store::tests::store;

fn now() -> DateTime<Utc> {
    "2025-01-20T08:00:00Z".parse().unwrap()
}

fn supervisor(name: &str, area: &str) -> NewUser {
    NewUser {
        name: name.into(),
        role: Role::Supervisor,
        area_code: Some(area.into()),
    }
}

on_both_backends! {
    #[test]
    fn an_account_signs_in_with_its_one_time_password_and_must_change_it() {
        let (_directory, store) = store();
        let (user, password) = store
            .add_user(&supervisor("李娟", "530626104"), now())
            .unwrap();
        assert!(user.must_change);
        assert_eq!(password.len(), 19, "four groups of four: {password}");
        let stored: String = store
            .read(|tx| tx.value("SELECT password_hash FROM users", &[]))
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains(&password));

        let (token, session) = store.login("李娟", &password, now()).unwrap();
        assert_eq!(session.user, user);
        assert_eq!(session.csrf_token.len(), 64);
        let seen = store
            .console_session(&token, now() + Duration::hours(1))
            .unwrap()
            .unwrap();
        assert_eq!(seen.user.id, user.id);
        assert_eq!(seen.csrf_token, session.csrf_token);

        store
            .change_password(user.id, &password, "绥江县南岸镇-2025", &token)
            .unwrap();
        let (_, again) = store.login("李娟", "绥江县南岸镇-2025", now()).unwrap();
        assert!(!again.user.must_change);
        assert!(matches!(
            store.login("李娟", &password, now()),
            Err(StoreError::Unauthorized)
        ));
    }

    #[test]
    fn wrong_names_and_wrong_passwords_are_the_same_refusal() {
        let (_directory, store) = store();
        let (_, password) = store
            .add_user(&supervisor("王芳", "530626"), now())
            .unwrap();
        for (name, given) in [
            ("王芳", "wrong password"),
            ("nobody", password.as_str()),
            ("王芳", ""),
            ("王芳", &"x".repeat(MAX_PASSWORD_CHARS + 1)),
        ] {
            assert!(
                matches!(
                    store.login(name, given, now()),
                    Err(StoreError::Unauthorized)
                ),
                "{name}"
            );
        }
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "the dummy hash must be checked in full"
        );
    }

    #[test]
    fn a_session_ends_at_logout_at_its_expiry_and_when_the_password_changes_elsewhere() {
        let (_directory, store) = store();
        let (user, password) = store
            .add_user(
                &NewUser {
                    name: "admin".into(),
                    role: Role::Admin,
                    area_code: None,
                },
                now(),
            )
            .unwrap();
        let again = NewUser {
            name: "Admin".into(),
            role: Role::Admin,
            area_code: None,
        };
        assert!(
            matches!(store.add_user(&again, now()), Err(StoreError::Conflict(_))),
            "names are unique whatever their case"
        );
        let (first, _) = store.login("admin", &password, now()).unwrap();
        let (second, _) = store.login("ADMIN", &password, now()).unwrap();
        assert!(
            store
                .console_session(&first, now() + Duration::hours(SESSION_HOURS))
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .console_session("not a token", now())
                .unwrap()
                .is_none()
        );
        store
            .change_password(user.id, &password, "a long new password", &second)
            .unwrap();
        assert!(
            store.console_session(&first, now()).unwrap().is_none(),
            "other sessions end"
        );
        assert!(
            store.console_session(&second, now()).unwrap().is_some(),
            "this one stays"
        );
        store.logout(&second).unwrap();
        assert!(store.console_session(&second, now()).unwrap().is_none());
    }

    #[test]
    fn bad_accounts_and_passwords_are_refused_and_change_nothing() {
        let (_directory, store) = store();
        let admin_with_area = NewUser {
            name: "a".into(),
            role: Role::Admin,
            area_code: Some("530626".into()),
        };
        let refusals = [
            store.add_user(&admin_with_area, now()),
            store.add_user(
                &NewUser {
                    name: "s".into(),
                    role: Role::Supervisor,
                    area_code: None,
                },
                now(),
            ),
            store.add_user(&supervisor("v", "530626104201"), now()),
            store.add_user(&supervisor("u", "999999"), now()),
            store.add_user(&supervisor(" ", "530626"), now()),
            store.add_user(&supervisor("tab\tname", "530626"), now()),
        ];
        for refusal in &refusals {
            assert!(refusal.is_err(), "{refusal:?}");
        }
        assert!(store.users().unwrap().is_empty());
        let (user, password) = store
            .add_user(&supervisor("陈刚", "530626104"), now())
            .unwrap();
        assert!(matches!(
            store.add_user(&supervisor("陈刚", "530626"), now()),
            Err(StoreError::Conflict(_))
        ));
        let (token, _) = store.login("陈刚", &password, now()).unwrap();
        assert!(matches!(
            store.change_password(user.id, &password, "short", &token),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.change_password(user.id, "not it", "a long new password", &token),
            Err(StoreError::Unauthorized)
        ));
        assert!(
            store.login("陈刚", &password, now()).is_ok(),
            "the password did not change"
        );
        assert_eq!(store.users().unwrap().len(), 1);
    }
}
