//! Waits that double after each failure, up to a ceiling: how the api and the worker
//! retry a service that has gone away (or is not there yet at start-up) without
//! hammering it when it comes back.

use std::future::Future;
use std::time::Duration;

pub struct Backoff {
    first: Duration,
    ceiling: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, ceiling: Duration) -> Self {
        Backoff {
            first,
            ceiling,
            next: first,
        }
    }

    /// The wait before the next try; each call doubles the one after it.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        delay
    }

    /// After a success, the next failure starts again from the first wait.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// How a process waits at start-up for a service it needs: from a quarter of a second
/// up to ten seconds between tries.
pub fn start_up() -> Backoff {
    Backoff::new(Duration::from_millis(250), Duration::from_secs(10))
}

/// Calls `attempt` until it succeeds, logging each failure (`what` names the call) and
/// waiting as `backoff` says before the next try.
pub async fn until_ok<T, E, Fut>(
    what: &str,
    mut backoff: Backoff,
    mut attempt: impl FnMut() -> Fut,
) -> T
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, ?delay, "{what}; trying again");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let delays: Vec<u128> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(250));
    }
}
