//! Room for submission bodies: the bytes that all requests may hold at once
//! (`limits.max_inflight_upload_bytes`), so that a flood of large uploads, chunked or
//! not, waits for room instead of taking the api's memory.

use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a submission waits for room before it is answered `503`.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct UploadRoom {
    /// In KiB, so that any budget fits a permit count.
    kib: Semaphore,
    total_kib: usize,
    wait: Duration,
}

fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

impl UploadRoom {
    /// Room for `bytes`, which a body waits for up to `wait`.
    pub fn new(bytes: usize, wait: Duration) -> Self {
        let total_kib = kib(bytes).clamp(1, u32::MAX as usize);
        UploadRoom {
            kib: Semaphore::new(total_kib),
            total_kib,
            wait,
        }
    }

    /// Room for a body of `bytes` (all the room, for one larger than it), held until
    /// the permit drops; `None` when none came free in time.
    pub async fn reserve(&self, bytes: usize) -> Option<SemaphorePermit<'_>> {
        let wanted = kib(bytes).clamp(1, self.total_kib) as u32;
        tokio::time::timeout(self.wait, self.kib.acquire_many(wanted))
            .await
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRIEF: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn bodies_wait_for_room_and_give_up_after_a_while() {
        let room = UploadRoom::new(100 << 20, BRIEF);
        let first = room.reserve(60 << 20).await.unwrap();
        let second = room.reserve(40 << 20).await.unwrap();
        // Full: the next waits, and is refused when nothing frees up in time.
        assert!(room.reserve(1).await.is_none());
        drop(first);
        let third = room.reserve(50 << 20).await.unwrap();
        // A body larger than the whole room waits for all of it.
        let waiting = tokio::spawn(async move {
            let room = UploadRoom::new(1 << 20, BRIEF);
            let _whole = room.reserve(5 << 20).await.unwrap();
            let refused = room.reserve(1).await.is_none();
            refused
        });
        assert!(waiting.await.unwrap());
        drop((second, third));
    }
}
