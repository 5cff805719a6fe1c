//! Rate limits counted in Redis, so every api replica shares them.

use crate::lazy_redis::{LazyConnection, Redis};

pub struct RateLimiter {
    connection: LazyConnection,
}

impl RateLimiter {
    /// A limiter on the process's shared connection.
    pub fn on(redis: &Redis) -> Self {
        RateLimiter {
            connection: redis.connection.clone(),
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
        let key = format!("stylize:rate:{name}:{window}");
        let (hits,): (u64,) = redis::pipe()
            .incr(&key, 1)
            .expire(&key, window_seconds as i64)
            .ignore()
            .query_async(&mut self.connection.clone())
            .await?;
        Ok((hits, window_seconds - now % window_seconds))
    }
}
