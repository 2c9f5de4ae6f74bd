//! Tokens for scripts that use the admin HTTP API (`/admin/v1`), each
//! acting as one console account: its role and its area. A token is
//! `dsa_` and 64 hex digits, shown once when it is issued; only its
//! SHA-256 is kept, as for devices' tokens and console sessions, so a
//! leaked database opens nothing. A token stops working when it is
//! revoked or its account is disabled.
//!
//! Every method is handed `now` (the clock is the caller's).

use chrono::{DateTime, Duration, Utc};
use doorstep_protocol::limits::check_short_text;
use serde::Serialize;
use uuid::Uuid;

use super::audit::{self, AuditEvent, AuditKind};
use super::secrets::{new_token, secret_hash};
use super::users::{Role, User, name_is};
use super::{ServerStore, StoreError, StoreResult};

/// What every admin-API token starts with, so that it is told apart from a
/// device's token at a glance (and by secret scanners).
pub const API_TOKEN_PREFIX: &str = "dsa_";

/// Characters of a token's label ("nightly export").
const MAX_LABEL_CHARS: usize = 100;

/// How often a token's `last_used_at` is written at most: operators see
/// its use by the minute, and a busy script does not write per request.
const USE_PRECISION_SECONDS: i64 = 60;

/// An issued token, as operators see it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub label: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl ServerStore {
    /// Issues a token acting as the enabled account called `user_name`:
    /// the token (shown once, kept only as its SHA-256) and its id.
    pub fn issue_api_token(
        &self,
        user_name: &str,
        label: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(String, Uuid)> {
        let label = label.trim();
        check_short_text(label, MAX_LABEL_CHARS).map_err(|problem| {
            StoreError::Invalid(format!(
                "a token's label {problem} (1 to {MAX_LABEL_CHARS} visible characters)"
            ))
        })?;
        let token = format!("{API_TOKEN_PREFIX}{}", new_token());
        let id = Uuid::now_v7();
        let token_hash = secret_hash(&token);
        let user_name = user_name.trim();
        self.write(|tx| {
            let user: Option<Uuid> = tx.query_opt(
                &format!(
                    "SELECT id FROM users WHERE {} AND disabled_at IS NULL",
                    name_is("name", 1)
                ),
                &[&user_name],
                |row| row.get(0),
            )?;
            let Some(user) = user else {
                return Err(StoreError::NotFound(format!(
                    "no console account called {user_name}"
                )));
            };
            tx.execute(
                "INSERT INTO api_tokens (id, user_id, label, token_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &[&id, &user, &label, &token_hash, &now],
            )?;
            audit::record(
                tx,
                now,
                &AuditEvent::new(AuditKind::ApiTokenIssued)
                    .user(user)
                    .subject(id.to_string()),
            )?;
            Ok(())
        })?;
        Ok((token, id))
    }

    /// The account a bearer token acts as, while the token is not revoked
    /// and the account is enabled; `None` for any other string. Notes the
    /// use (at most once a minute per token).
    pub fn api_token_auth(&self, token: &str, now: DateTime<Utc>) -> StoreResult<Option<User>> {
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = secret_hash(token);
        let stale = now - Duration::seconds(USE_PRECISION_SECONDS);
        let found = self.read(|tx| {
            tx.query_opt(
                "SELECT u.id, u.name, u.role, u.area_code, u.must_change, t.id,
                        t.last_used_at IS NULL OR t.last_used_at < ?2
                 FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL",
                &[&hash, &stale],
                |row| {
                    let role: String = row.get(2)?;
                    Ok((
                        User {
                            id: row.get(0)?,
                            name: row.get(1)?,
                            role: Role::parse(&role).unwrap_or(Role::Supervisor),
                            area_code: row.get(3)?,
                            must_change: row.get::<i64>(4)? == 1,
                        },
                        row.get::<String>(5)?,
                        row.get::<bool>(6)?,
                    ))
                },
            )
        })?;
        let Some((user, id, stale)) = found else {
            return Ok(None);
        };
        if stale {
            self.write(|tx| {
                tx.execute(
                    "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                    &[&id, &now],
                )?;
                Ok(())
            })?;
        }
        Ok(Some(user))
    }

    /// Every token issued, revoked ones too, oldest first.
    pub fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRow>> {
        self.read(|tx| {
            tx.query(
                "SELECT t.id, t.user_id, u.name, t.label, t.created_at, t.last_used_at, t.revoked_at
                 FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.created_at, t.id",
                &[],
                |row| {
                    Ok(ApiTokenRow {
                        id: row.get(0)?,
                        user_id: row.get(1)?,
                        user_name: row.get(2)?,
                        label: row.get(3)?,
                        created_at: row.get(4)?,
                        last_used_at: row.get(5)?,
                        revoked_at: row.get(6)?,
                    })
                },
            )
        })
    }

    /// Revokes a token: it opens nothing from now on. Returns `false` when
    /// it was revoked already (nothing changes, nothing is audited again).
    pub fn revoke_api_token(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        self.write(|tx| {
            let found: Option<(Uuid, bool)> = tx.query_opt(
                "SELECT user_id, revoked_at IS NOT NULL FROM api_tokens WHERE id = ?1",
                &[&id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            let Some((user, revoked)) = found else {
                return Err(StoreError::NotFound(format!("no API token {id}")));
            };
            if revoked {
                return Ok(false);
            }
            // Only if still not revoked: on PostgreSQL another revocation
            // may have committed since the row was read.
            let revoked = tx.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                &[&id, &now],
            )?;
            if revoked == 0 {
                return Ok(false);
            }
            audit::record(
                tx,
                now,
                &AuditEvent::new(AuditKind::ApiTokenRevoked)
                    .user(user)
                    .subject(id.to_string()),
            )?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use doorstep_core::sqlite::time_text;

    use super::*;
    use crate::store::NewUser;
    use crate::store::testing::{TestDatabase, empty_store, on_both_backends};

    fn store() -> (TestDatabase, ServerStore) {
        empty_store()
    }

    fn admin(store: &ServerStore, name: &str) -> User {
        let new = NewUser {
            name: name.into(),
            role: Role::Admin,
            area_code: None,
        };
        store.add_user(&new, Utc::now()).expect("an account").0
    }

    fn last_used(store: &ServerStore, id: Uuid) -> Option<String> {
        store
            .list_api_tokens()
            .expect("tokens")
            .into_iter()
            .find(|row| row.id == id)
            .expect("the token")
            .last_used_at
    }

    on_both_backends! {
        #[test]
        fn a_token_acts_as_its_account_and_is_kept_only_as_a_hash() {
            let (_directory, store) = store();
            let user = admin(&store, "operator");
            let now = Utc::now();
            let (token, id) = store
                .issue_api_token("operator", "nightly export", now)
                .expect("a token");
            assert!(token.starts_with("dsa_") && token.len() == 68, "{token}");
            assert_eq!(
                store.api_token_auth(&token, now).expect("auth"),
                Some(user.clone())
            );
            let stored: Vec<String> = store
                .read(|tx| tx.query("SELECT token_hash FROM api_tokens", &[], |row| row.get(0)))
                .expect("rows");
            assert_eq!(stored, vec![secret_hash(&token)]);
            // Anything else opens nothing: another token, the hash itself, the
            // token without its prefix (the shape of a device's token).
            for wrong in [
                format!("dsa_{}", "0".repeat(64)),
                stored[0].clone(),
                token.trim_start_matches("dsa_").to_owned(),
                String::new(),
            ] {
                assert_eq!(store.api_token_auth(&wrong, now).expect("auth"), None);
            }
            let rows = store.list_api_tokens().expect("tokens");
            assert_eq!(rows.len(), 1);
            assert_eq!((rows[0].id, rows[0].user_id), (id, user.id));
            assert_eq!(rows[0].label, "nightly export");
            let audit = store
                .audit(10, Some(AuditKind::ApiTokenIssued))
                .expect("audit");
            assert_eq!(audit.len(), 1);
            assert_eq!(audit[0].user_id, Some(user.id));
            assert_eq!(audit[0].subject.as_deref(), Some(id.to_string().as_str()));
        }

        #[test]
        fn use_is_noted_at_most_once_a_minute() {
            let (_directory, store) = store();
            admin(&store, "operator");
            let start = Utc::now();
            let (token, id) = store
                .issue_api_token("operator", "script", start)
                .expect("a token");
            assert_eq!(last_used(&store, id), None);
            store.api_token_auth(&token, start).expect("auth");
            assert_eq!(last_used(&store, id), Some(time_text(start)));
            store
                .api_token_auth(&token, start + Duration::seconds(59))
                .expect("auth");
            assert_eq!(last_used(&store, id), Some(time_text(start)));
            let later = start + Duration::seconds(61);
            store.api_token_auth(&token, later).expect("auth");
            assert_eq!(last_used(&store, id), Some(time_text(later)));
        }

        #[test]
        fn revoked_tokens_and_disabled_accounts_open_nothing() {
            let (_directory, store) = store();
            let user = admin(&store, "operator");
            let now = Utc::now();
            let (token, id) = store
                .issue_api_token("operator", "one", now)
                .expect("a token");
            // Names are the same whatever their case.
            let (other, _) = store
                .issue_api_token("OPERATOR", "two", now)
                .expect("a token");
            assert!(store.revoke_api_token(id, now).expect("revoked"));
            assert!(
                !store.revoke_api_token(id, now).expect("again"),
                "twice is no error"
            );
            assert_eq!(store.api_token_auth(&token, now).expect("auth"), None);
            assert_eq!(
                store
                    .audit(10, Some(AuditKind::ApiTokenRevoked))
                    .expect("audit")
                    .len(),
                1,
                "revoked once, audited once"
            );
            assert!(store.api_token_auth(&other, now).expect("auth").is_some());
            store
                .write(|tx| {
                    tx.execute(
                        "UPDATE users SET disabled_at = ?2 WHERE id = ?1",
                        &[&user.id, &now],
                    )?;
                    Ok(())
                })
                .expect("disabled");
            assert_eq!(store.api_token_auth(&other, now).expect("auth"), None);
            assert!(matches!(
                store.revoke_api_token(Uuid::now_v7(), now),
                Err(StoreError::NotFound(_))
            ));
        }

        #[test]
        fn two_revocations_at_once_revoke_once() {
            let (_directory, store) = store();
            admin(&store, "operator");
            let now = Utc::now();
            for _ in 0..5 {
                let (_, id) = store
                    .issue_api_token("operator", "script", now)
                    .expect("a token");
                let barrier = std::sync::Barrier::new(2);
                let revoked: Vec<bool> = std::thread::scope(|scope| {
                    let racers: Vec<_> = (0..2)
                        .map(|_| {
                            scope.spawn(|| {
                                barrier.wait();
                                store.revoke_api_token(id, now).expect("revoked")
                            })
                        })
                        .collect();
                    racers
                        .into_iter()
                        .map(|racer| racer.join().expect("a thread"))
                        .collect()
                });
                assert_eq!(
                    revoked.iter().filter(|&&first| first).count(),
                    1,
                    "{revoked:?}"
                );
            }
            assert_eq!(
                store
                    .audit(20, Some(AuditKind::ApiTokenRevoked))
                    .expect("audit")
                    .len(),
                5,
                "audited once each"
            );
        }

        #[test]
        fn bad_requests_for_tokens_change_nothing() {
            let (_directory, store) = store();
            admin(&store, "operator");
            let now = Utc::now();
            assert!(matches!(
                store.issue_api_token("nobody", "x", now),
                Err(StoreError::NotFound(_))
            ));
            for label in ["", "   ", "a\u{7}b", &"x".repeat(101)] {
                assert!(
                    matches!(
                        store.issue_api_token("operator", label, now),
                        Err(StoreError::Invalid(_))
                    ),
                    "{label:?}"
                );
            }
            assert!(store.list_api_tokens().expect("tokens").is_empty());
            assert!(
                store
                    .audit(10, Some(AuditKind::ApiTokenIssued))
                    .expect("audit")
                    .is_empty()
            );
        }
    }
}
