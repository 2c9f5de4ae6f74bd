//! `doorstep admin add-token | tokens | revoke-token`: tokens for scripts
//! that use the admin HTTP API (`/admin/v1`), each acting as a console
//! account. The token is printed once, on stdout; the server keeps only
//! its SHA-256.

use clap::Subcommand;
use doorstep_server::ServerStore;
use uuid::Uuid;

use crate::output::{invalid, out, print_json};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue an admin-API token acting as a console account (its role and
    /// area); prints the token once. Send it as `Authorization: Bearer …`.
    AddToken {
        /// The console account's name (see `admin users`).
        #[arg(long)]
        user: String,
        /// What the token is for ("nightly export"), shown in `admin tokens`.
        #[arg(long)]
        label: String,
        /// Print the token, its id and account as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List admin-API tokens (never the tokens themselves).
    Tokens {
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin-API token: it opens nothing from now on.
    RevokeToken {
        /// The token's id (from `admin tokens`), not the token.
        id: String,
    },
}

pub fn run(store: &ServerStore, command: TokenCommand) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    match command {
        TokenCommand::AddToken { user, label, json } => {
            let (token, id) = store.issue_api_token(&user, &label, now)?;
            eprintln!(
                "token {id} issued for {}; it is shown only now: keep it like a password",
                user.trim()
            );
            if json {
                print_json(&serde_json::json!({
                    "id": id,
                    "user": user.trim(),
                    "label": label.trim(),
                    "token": token,
                }))?;
            } else {
                out!("{token}");
            }
        }
        TokenCommand::Tokens { json } => {
            let tokens = store.list_api_tokens()?;
            if json {
                print_json(&tokens)?;
            } else {
                for token in tokens {
                    out!(
                        "{}\t{}\t{}\tcreated {}\tlast used {}{}",
                        token.id,
                        token.user_name,
                        token.label,
                        token.created_at,
                        token.last_used_at.as_deref().unwrap_or("never"),
                        if token.revoked_at.is_some() {
                            "\trevoked"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        TokenCommand::RevokeToken { id } => {
            let id = Uuid::parse_str(id.trim()).map_err(|_| {
                invalid(format!(
                    "{id:?} is not a token id (a UUID from `admin tokens`)"
                ))
            })?;
            if store.revoke_api_token(id, now)? {
                eprintln!("token {id} revoked: it opens nothing from now on");
            } else {
                eprintln!("token {id} was revoked already; nothing changed");
            }
        }
    }
    Ok(())
}
