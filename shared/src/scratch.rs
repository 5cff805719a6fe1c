//! A database of a test's own on the local PostgreSQL (`scripts/services.sh` runs it):
//! created empty, and dropped when the value drops, a failing test's included. The
//! shared crate's query tests and the end-to-end stacks both use it.

use crate::config::DatabaseSettings;
use sqlx::Connection;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

pub struct ScratchDatabase {
    name: String,
}

impl ScratchDatabase {
    /// A new, empty database named `PREFIX_` and a random suffix.
    pub async fn create(prefix: &str) -> ScratchDatabase {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{SERVER}/postgres"))
            .await
            .expect("the local PostgreSQL answers (scripts/services.sh starts it)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("a scratch database is created");
        ScratchDatabase { name }
    }

    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }

    /// Settings that reach this database with at most `max_connections`.
    pub fn settings(&self, max_connections: u32) -> DatabaseSettings {
        DatabaseSettings {
            url: self.url().into(),
            max_connections,
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // `drop` cannot await; `--force` closes the connections still open to it.
        let _ = std::process::Command::new("dropdb")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "--force",
                "--if-exists",
            ])
            .arg(&self.name)
            .status();
    }
}
