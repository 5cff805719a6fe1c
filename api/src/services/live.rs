//! Live events, fanned out: one Redis subscription per api process hears every job's
//! channel and hands each event to those following that job (event streams and
//! `Prefer: wait`), so a thousand open streams cost one Redis connection and no polling
//! of PostgreSQL; and the slots that bound how many streams are open, per owner and in
//! all.

use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stylize_shared::backoff::Backoff;
use stylize_shared::progress::{JobEvent, ProgressStore};
use tokio::sync::broadcast;
use uuid::Uuid;

/// What a follower hears.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Event(JobEvent),
    /// Events may have been missed (the subscription started again, or this follower
    /// fell behind): read the job again.
    Missed,
}

/// Events queued for one job's followers before the slowest falls behind (and hears
/// [`Heard::Missed`] instead).
const BACKLOG: usize = 32;

#[derive(Default)]
pub struct Hub {
    jobs: Mutex<HashMap<Uuid, broadcast::Sender<Heard>>>,
}

impl Hub {
    /// A hub fed by `progress`'s subscription, which it keeps (re)opening for as long as
    /// the process runs.
    pub fn start(progress: ProgressStore) -> Arc<Hub> {
        let hub = Arc::new(Hub::default());
        let feeding = hub.clone();
        tokio::spawn(async move { feeding.feed(progress).await });
        hub
    }

    async fn feed(&self, progress: ProgressStore) {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
        loop {
            match progress.all_events().await {
                Ok(mut events) => {
                    backoff.reset();
                    // Whatever was published while there was no subscription is lost.
                    self.tell_all(Heard::Missed);
                    while let Some((job, event)) = events.next().await {
                        self.tell(job, Heard::Event(event));
                    }
                    tracing::warn!("the subscription to jobs' events ended; subscribing again");
                }
                Err(error) => {
                    tracing::warn!(%error, "subscribing to jobs' events; trying again")
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, broadcast::Sender<Heard>>> {
        self.jobs.lock().expect("no panic while holding the lock")
    }

    fn tell(&self, job: Uuid, heard: Heard) {
        if let Some(followers) = self.lock().get(&job) {
            // None left is no error: the last one is just leaving.
            let _ = followers.send(heard);
        }
    }

    fn tell_all(&self, heard: Heard) {
        for followers in self.lock().values() {
            let _ = followers.send(heard.clone());
        }
    }

    /// Follows `job` from now on.
    pub fn follow(self: &Arc<Self>, job: Uuid) -> Following {
        let heard = self
            .lock()
            .entry(job)
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe();
        Following {
            hub: self.clone(),
            job,
            heard: Some(heard),
        }
    }

    /// Jobs followed now (a gauge's reading, and for tests).
    pub fn followed(&self) -> usize {
        self.lock().len()
    }
}

/// One follower of one job; the hub forgets the job when its last follower goes.
pub struct Following {
    hub: Arc<Hub>,
    job: Uuid,
    /// `None` only while dropping.
    heard: Option<broadcast::Receiver<Heard>>,
}

impl Following {
    /// The next thing heard of the job.
    pub async fn next(&mut self) -> Heard {
        let heard = self.heard.as_mut().expect("only dropping takes it");
        match heard.recv().await {
            Ok(heard) => heard,
            Err(broadcast::error::RecvError::Lagged(_)) => Heard::Missed,
            Err(broadcast::error::RecvError::Closed) => {
                unreachable!("the hub keeps the sender while a follower lives")
            }
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut jobs = self.hub.lock();
        // Dropped under the lock, so that of two followers leaving at once the second
        // sees none left.
        self.heard = None;
        if jobs
            .get(&self.job)
            .is_some_and(|followers| followers.receiver_count() == 0)
        {
            jobs.remove(&self.job);
        }
    }
}

/// Why a stream could not open.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    /// The owner has this many open, its limit.
    Owner(usize),
    /// The process has this many open, its limit.
    Process(usize),
}

/// The open event streams, per owner (`None`: the anonymous owner) and in all.
pub struct StreamSlots {
    per_owner: usize,
    total: usize,
    open: Mutex<(usize, HashMap<Option<Uuid>, usize>)>,
}

impl StreamSlots {
    pub fn new(per_owner: usize, total: usize) -> Arc<Self> {
        Arc::new(StreamSlots {
            per_owner,
            total,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<Option<Uuid>, usize>)> {
        self.open.lock().expect("no panic while holding the lock")
    }

    /// A slot for one of `owner`'s streams, held until the slot drops.
    pub fn take(self: &Arc<Self>, owner: Option<Uuid>) -> Result<StreamSlot, Full> {
        let mut open = self.lock();
        let (total, per_owner) = &mut *open;
        if *total >= self.total {
            return Err(Full::Process(*total));
        }
        let owned = per_owner.entry(owner).or_default();
        if *owned >= self.per_owner {
            return Err(Full::Owner(*owned));
        }
        *owned += 1;
        *total += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            owner,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.lock().0
    }
}

pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    owner: Option<Uuid>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        let (total, per_owner) = &mut *open;
        *total -= 1;
        if let Some(owned) = per_owner.get_mut(&self.owner) {
            *owned -= 1;
            if *owned == 0 {
                per_owner.remove(&self.owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stylize_core::job::JobState;

    #[tokio::test]
    async fn followers_hear_their_job_only_and_the_hub_forgets_a_job_left() {
        let hub = Arc::new(Hub::default());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut first = hub.follow(a);
        let mut second = hub.follow(a);
        let other = hub.follow(b);
        assert_eq!(hub.followed(), 2);
        let ended = Heard::Event(JobEvent::State(JobState::Succeeded));
        hub.tell(a, ended.clone());
        assert_eq!(first.next().await, ended);
        assert_eq!(second.next().await, ended);
        drop(other);
        assert_eq!(hub.followed(), 1);
        drop(first);
        assert_eq!(hub.followed(), 1, "a still has a follower");
        // Nobody hears b's events now, and telling them is no error.
        hub.tell(b, ended.clone());
        hub.tell_all(Heard::Missed);
        assert_eq!(second.next().await, Heard::Missed);
        drop(second);
        assert_eq!(hub.followed(), 0);
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_hears_it_missed_events() {
        let hub = Arc::new(Hub::default());
        let job = Uuid::new_v4();
        let mut slow = hub.follow(job);
        for _ in 0..BACKLOG + 5 {
            hub.tell(job, Heard::Event(JobEvent::State(JobState::Running)));
        }
        assert_eq!(slow.next().await, Heard::Missed);
    }

    #[test]
    fn stream_slots_hold_per_owner_and_in_all() {
        let slots = StreamSlots::new(2, 3);
        let (a, b) = (Some(Uuid::new_v4()), Some(Uuid::new_v4()));
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert_eq!(slots.take(a).err(), Some(Full::Owner(2)));
        let _third = slots.take(None).unwrap();
        assert_eq!(slots.take(b).err(), Some(Full::Process(3)));
        drop(first);
        assert_eq!(slots.open(), 2);
        let _fourth = slots.take(b).unwrap();
        assert_eq!(slots.take(a).err(), Some(Full::Process(3)));
    }
}
