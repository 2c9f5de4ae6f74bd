//! The console's accounts and sessions (ADR 0010): admins and supervisors
//! of an area, passwords kept as Argon2id PHC strings, sessions kept as the
//! SHA-256 of their cookie's token. Devices never appear here.
//!
//! Every method is handed `now` (the clock is the caller's).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::db::{Row, Tx};
use super::secrets::{new_token, secret_hash};
use super::{ServerStore, StoreError, StoreResult};

/// How long a console session lasts without a new login.
pub const SESSION_HOURS: i64 = 12;
/// The shortest password a person may set.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: Argon2 takes any length, but a megabyte "password" is an
/// attack on the server's time, not a password.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// What a console account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, on the whole server.
    Admin,
    /// One county or township and everything below it.
    Supervisor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            _ => None,
        }
    }
}

/// A console account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// A supervisor's county or township.
    pub area_code: Option<String>,
    /// The password is still the one-time password: set one first.
    pub must_change: bool,
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub area_code: Option<String>,
}

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub user: User,
    /// To put in every form of the session and check on every POST.
    pub csrf_token: String,
}

const USER_COLUMNS: &str = "id, name, role, area_code, must_change";

fn user_from_row(row: &Row<'_>) -> StoreResult<User> {
    let role: String = row.get(2)?;
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        // The table's CHECK allows only the two.
        role: Role::parse(&role).unwrap_or(Role::Supervisor),
        area_code: row.get(3)?,
        must_change: row.get::<i64>(4)? == 1,
    })
}

/// A condition true for the account called `?N` in `column`: names are
/// unique whatever their case (SQLite's `COLLATE NOCASE`, PostgreSQL's
/// unique index on `lower(name)`).
pub(super) fn name_is(column: &str, parameter: usize) -> String {
    format!("lower({column}) = lower(?{parameter})")
}

fn hash_password(password: &str) -> StoreResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| StoreError::Invalid(format!("could not hash the password: {error}")))
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

fn check_password(password: &str) -> StoreResult<()> {
    let length = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        return Err(StoreError::Invalid(format!(
            "a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// A one-time password people can type: 4 groups of 4 letters and digits
/// without the easily confused (0/O, 1/I/L).
fn one_time_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut random = rand::rng();
    (0..4)
        .map(|_| {
            (0..4)
                .map(|_| char::from(ALPHABET[random.random_range(0..ALPHABET.len())]))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

impl ServerStore {
    /// Creates a console account and returns it with its one-time
    /// password, which the first login must replace. A supervisor's area
    /// must be a county or township the server knows; an admin has none.
    pub fn add_user(&self, new: &NewUser, now: DateTime<Utc>) -> StoreResult<(User, String)> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "a user's name has 1 to 64 characters, none of them control characters".into(),
            ));
        }
        let password = one_time_password();
        let hash = hash_password(&password)?;
        self.write(|tx| {
            match (new.role, new.area_code.as_deref()) {
                (Role::Admin, Some(_)) => {
                    return Err(StoreError::Invalid("an admin has no area: leave out --area".into()));
                }
                (Role::Supervisor, None) => {
                    return Err(StoreError::Invalid(
                        "a supervisor needs an area: --area with a county's or township's code".into(),
                    ));
                }
                (Role::Supervisor, Some(code)) => {
                    let level: Option<String> = tx.query_opt(
                        "SELECT level FROM areas WHERE code = ?1",
                        &[&code],
                        |row| row.get(0),
                    )?;
                    match level.as_deref() {
                        Some("county" | "township") => {}
                        Some(other) => {
                            return Err(StoreError::Invalid(format!(
                                "area {code} is a {other}: a supervisor oversees a county or a township"
                            )));
                        }
                        None => return Err(StoreError::NotFound(format!("no area {code}"))),
                    }
                }
                (Role::Admin, None) => {}
            }
            // Checked here, not left to the unique index: on PostgreSQL a
            // unique violation runs the transaction again, which then
            // finds the name taken.
            let taken: bool = tx.value(
                &format!("SELECT EXISTS (SELECT 1 FROM users WHERE {})", name_is("name", 1)),
                &[&name],
            )?;
            if taken {
                return Err(StoreError::Conflict(format!("there is already a user called {name}")));
            }
            let id = Uuid::now_v7();
            tx.execute(
                "INSERT INTO users (id, name, role, area_code, password_hash, must_change, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
                &[&id, &name, &new.role.as_str(), &new.area_code, &hash, &now],
            )?;
            let mut event = super::AuditEvent::new(super::AuditKind::UserAdded)
                .user(id)
                .detail(new.role.as_str());
            if let Some(area) = &new.area_code {
                event = event.subject(area.clone());
            }
            super::audit::record(tx, now, &event)?;
            Ok(User {
                id,
                name: name.to_owned(),
                role: new.role,
                area_code: new.area_code.clone(),
                must_change: true,
            })
        })
        .map(|user| (user, password))
    }

    /// Console accounts, by name (whatever its case; by id where names
    /// compare equal so).
    pub fn users(&self) -> StoreResult<Vec<User>> {
        let mut users = self.read(|tx| {
            tx.query(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE disabled_at IS NULL"),
                &[],
                user_from_row,
            )
        })?;
        // Sorted here: the engines collate text differently.
        users.sort_by(|a, b| {
            (a.name.to_ascii_lowercase(), a.id).cmp(&(b.name.to_ascii_lowercase(), b.id))
        });
        Ok(users)
    }

    /// Signs in: a new session for the account called `name` when the
    /// password is its own, and its token (for the cookie). A wrong name
    /// and a wrong password are the same `Unauthorized`, and take as long
    /// (a password is checked against a dummy hash when there is no such
    /// account), so the answer tells nobody which names exist.
    pub fn login(
        &self,
        name: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(String, ConsoleSession)> {
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(StoreError::Unauthorized);
        }
        let found = self.read(|tx| {
            tx.query_opt(
                &format!(
                    "SELECT {USER_COLUMNS}, password_hash FROM users
                     WHERE {} AND disabled_at IS NULL",
                    name_is("name", 1)
                ),
                &[&name.trim()],
                |row| Ok((user_from_row(row)?, row.get::<String>(5)?)),
            )
        })?;
        let Some((user, stored)) = found else {
            // The same work as for a real account.
            let _ = password_matches(password, DUMMY_HASH);
            return Err(StoreError::Unauthorized);
        };
        if !password_matches(password, &stored) {
            return Err(StoreError::Unauthorized);
        }
        let token = new_token();
        let csrf_token = new_token();
        let token_hash = secret_hash(&token);
        let expires = now + Duration::hours(SESSION_HOURS);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO console_sessions (token_hash, user_id, csrf_token, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &[&token_hash, &user.id, &csrf_token, &now, &expires],
            )?;
            // Sessions that ran out go as new ones come.
            tx.execute(
                "DELETE FROM console_sessions WHERE expires_at <= ?1",
                &[&now],
            )?;
            Ok(())
        })?;
        Ok((token, ConsoleSession { user, csrf_token }))
    }

    /// The session of a cookie's token, while it lasts and its account is
    /// enabled.
    pub fn console_session(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConsoleSession>> {
        self.read(|tx| session_of(tx, token, now))
    }

    /// Ends a session (logout); an unknown token is no error.
    pub fn logout(&self, token: &str) -> StoreResult<()> {
        let token_hash = secret_hash(token);
        self.write(|tx| {
            tx.execute(
                "DELETE FROM console_sessions WHERE token_hash = ?1",
                &[&token_hash],
            )?;
            Ok(())
        })
    }

    /// Sets a new password for `user`, given the current one; ends every
    /// other session of the account.
    pub fn change_password(
        &self,
        user: Uuid,
        current: &str,
        new_password: &str,
        keep_session: &str,
    ) -> StoreResult<()> {
        check_password(new_password)?;
        if current == new_password {
            return Err(StoreError::Invalid(
                "the new password must differ from the old one".into(),
            ));
        }
        let stored: String = self.read(|tx| {
            tx.query_opt(
                "SELECT password_hash FROM users WHERE id = ?1",
                &[&user],
                |row| row.get(0),
            )?
            .ok_or_else(|| StoreError::NotFound(format!("no user {user}")))
        })?;
        if !password_matches(current, &stored) {
            return Err(StoreError::Unauthorized);
        }
        let hash = hash_password(new_password)?;
        let keep = secret_hash(keep_session);
        self.write(|tx| {
            tx.execute(
                "UPDATE users SET password_hash = ?2, must_change = 0 WHERE id = ?1",
                &[&user, &hash],
            )?;
            tx.execute(
                "DELETE FROM console_sessions WHERE user_id = ?1 AND token_hash <> ?2",
                &[&user, &keep],
            )?;
            Ok(())
        })
    }
}

fn session_of(tx: &Tx<'_>, token: &str, now: DateTime<Utc>) -> StoreResult<Option<ConsoleSession>> {
    let columns = USER_COLUMNS
        .split(", ")
        .map(|column| format!("u.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    tx.query_opt(
        &format!(
            "SELECT {columns}, s.csrf_token FROM console_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
        ),
        &[&secret_hash(token), &now],
        |row| {
            Ok(ConsoleSession {
                user: user_from_row(row)?,
                csrf_token: row.get(5)?,
            })
        },
    )
}

/// An Argon2id hash of a password nobody has, checked when a login names
/// no account, so that both take as long.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2iNbiHPBwZ0+J6PJ5ToUW3hLNN9MeuiV5zqJEY4U3ms";

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;
