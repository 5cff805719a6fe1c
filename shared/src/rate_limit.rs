//! Rate limits counted in Redis, so every api replica shares them.

use crate::lazy_redis::{LazyConnection, Redis};

pub struct RateLimiter {
    connection: LazyConnection,
    /// Whose counts these are: the deployment's queue, so that deployments (and test
    /// stacks) sharing one Redis count apart.
    namespace: String,
}

impl RateLimiter {
    /// A limiter on the process's shared connection, counting for the deployment of
    /// `namespace`.
    pub fn on(redis: &Redis, namespace: &str) -> Self {
        RateLimiter {
            connection: redis.connection.clone(),
            namespace: namespace.to_owned(),
        }
    }

    /// Counts one hit against `name` in the current fixed window of `window_seconds`;
    /// returns the hits so far in this window and the seconds until it ends.
    pub async fn count_hit(
        &self,
        name: &str,
        window_seconds: u64,
    ) -> redis::RedisResult<(u64, u64)> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let window = now / window_seconds;
        let key = format!("stylize:rate:{}:{name}:{window}", self.namespace);
        let (hits,): (u64,) = redis::pipe()
            .incr(&key, 1)
            .expire(&key, window_seconds as i64)
            .ignore()
            .query_async(&mut self.connection.clone())
            .await?;
        Ok((hits, window_seconds - now % window_seconds))
    }
}
