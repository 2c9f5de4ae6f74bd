//! The server's database, as `serve` and `admin` name it: a file
//! (`--db`, the default) or PostgreSQL (`--database-url`, or
//! `DOORSTEP_DATABASE_URL`).

use std::path::Path;

use anyhow::Context;
use doorstep_server::ServerStore;

/// Opens the file, or connects to the URL when one is given; either is
/// migrated to this build's schema.
pub fn open(db: &Path, database_url: Option<&str>) -> anyhow::Result<ServerStore> {
    match database_url {
        Some(url) => ServerStore::connect(url).context("could not use the PostgreSQL database"),
        None => Ok(ServerStore::open(db)?),
    }
}
