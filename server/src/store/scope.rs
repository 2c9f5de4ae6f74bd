//! What a console account (or an API token acting for it) may see and
//! change: an admin the whole server, a supervisor one county or township
//! and every area below it. Every console and admin-API query is filtered
//! through a [`Scope`]; a household, device or cadre outside it is "not
//! found", never "forbidden" (which would confirm that it exists).

use super::db::Tx;
use super::{Role, StoreResult, User};

/// The areas a request may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole server.
    All,
    /// One area (a county or a township) and everything below it.
    Area(String),
}

impl Scope {
    /// The scope of a signed-in account.
    pub fn of(user: &User) -> Scope {
        match (user.role, &user.area_code) {
            (Role::Admin, _) => Scope::All,
            (Role::Supervisor, Some(area)) => Scope::Area(area.clone()),
            // A supervisor always has an area (a CHECK of the users
            // table); without one, nothing.
            (Role::Supervisor, None) => Scope::Area(String::new()),
        }
    }

    /// An SQL condition true when the village code in `column` is in the
    /// scope (`TRUE` for the whole server). The area code is written as an
    /// escaped SQL literal, so the fragment takes no parameter.
    pub fn villages_sql(&self, column: &str) -> String {
        match self {
            Scope::All => "TRUE".to_owned(),
            Scope::Area(area) => format!(
                "{column} IN (WITH RECURSIVE below(code) AS (SELECT CAST({area} AS TEXT) UNION ALL \
                 SELECT areas.code FROM areas JOIN below ON areas.parent_code = below.code) \
                 SELECT code FROM below)",
                area = sql_literal(area)
            ),
        }
    }

    /// Whether an area (of any level) is in the scope.
    pub fn contains_area(&self, tx: &Tx<'_>, code: &str) -> StoreResult<bool> {
        Ok(tx
            .query_opt(
                &format!(
                    "SELECT 1 FROM areas WHERE code = ?1 AND {}",
                    self.villages_sql("code")
                ),
                &[&code],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// Whether a household is in the scope.
    pub fn contains_household(&self, tx: &Tx<'_>, id: &str) -> StoreResult<bool> {
        Ok(tx
            .query_opt(
                &format!(
                    "SELECT 1 FROM households WHERE id = ?1 AND {}",
                    self.villages_sql("village_code")
                ),
                &[&id],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// Whether the account sees the whole server (admin-only pages).
    pub fn is_all(&self) -> bool {
        matches!(self, Scope::All)
    }
}

/// `text` as an SQL string literal.
fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(sql_literal("53'06"), "'53''06'");
        assert_eq!(Scope::All.villages_sql("v"), "TRUE");
        assert!(
            Scope::Area("x' OR 1 --".into())
                .villages_sql("v")
                .contains("'x'' OR 1 --'")
        );
    }
}
