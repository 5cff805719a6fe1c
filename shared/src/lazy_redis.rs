//! A Redis connection opened at its first call rather than at start-up, so a process
//! starting while Redis is away comes up all the same: each call made meanwhile fails
//! (as it would with Redis gone later), and the first one after Redis is back connects.
//! From then on the connection manager reconnects by itself. A process opens one
//! [`Redis`] and hands it to every Redis user it has (progress, rate limits, the worker
//! registry), so they share one connection.

use crate::config::RedisSettings;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// A process's Redis: the one connection its calls share, and the client for what a
/// shared connection cannot do (subscriptions, each on a connection of its own).
#[derive(Clone)]
pub struct Redis {
    pub(crate) client: redis::Client,
    pub(crate) connection: LazyConnection,
}

impl Redis {
    /// Calls through it wait boundedly: with Redis away, a call fails in about a second
    /// (and the manager reconnects behind it) instead of holding a status request, a
    /// submission or a worker's progress loop. It connects at its first call, so a
    /// process may start while Redis is away: only a malformed URL fails here.
    pub fn open(settings: &RedisSettings) -> RedisResult<Self> {
        let client = redis::Client::open(settings.url.expose())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(1)
            .set_max_delay(500);
        let connection = LazyConnection::new(client.clone(), config);
        Ok(Redis { client, connection })
    }
}

#[derive(Clone)]
pub struct LazyConnection {
    client: redis::Client,
    config: ConnectionManagerConfig,
    manager: Arc<OnceCell<ConnectionManager>>,
}

impl LazyConnection {
    pub fn new(client: redis::Client, config: ConnectionManagerConfig) -> Self {
        LazyConnection {
            client,
            config,
            manager: Arc::default(),
        }
    }

    /// The connection manager, connecting first if no call has yet. Calls arriving while
    /// one connects wait for it; a failed connect leaves the next call to try again.
    async fn manager(&self) -> RedisResult<ConnectionManager> {
        self.manager
            .get_or_try_init(|| {
                self.client
                    .get_connection_manager_with_config(self.config.clone())
            })
            .await
            .cloned()
    }
}

/// Commands go through as they would on the manager, so callers use this connection as
/// they would use it (`query_async(&mut connection.clone())`).
impl ConnectionLike for LazyConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut manager = self.manager().await?;
            manager.req_packed_command(cmd).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut manager = self.manager().await?;
            manager.req_packed_commands(pipeline, offset, count).await
        })
    }

    fn get_db(&self) -> i64 {
        self.client.get_connection_info().redis.db
    }
}
