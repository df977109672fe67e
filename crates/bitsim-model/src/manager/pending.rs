//! The queue of raised, not yet delivered notifications, with the indexes
//! that keep each of its operations O(log n) in the number of entries.
//!
//! It persists as the map from key (raise order) to entry; the indexes are
//! derived and rebuilt when it is read back.

use super::notify::{InFlight, Pending};
use super::*;

/// Pending notifications by key (raise order), plus derived indexes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "BTreeMap<u64, Pending>", into = "BTreeMap<u64, Pending>")]
pub(super) struct PendingQueue {
    entries: BTreeMap<u64, Pending>,
    /// `(job, event) → key`: one entry per job and event.
    by_job_kind: BTreeMap<(JobId, NotifyKind), u64>,
    /// `(not_before, key)`: when each entry may go out. Parked entries are
    /// left out.
    by_time: BTreeSet<(Time, u64)>,
    /// Entries due but held back because their user had four notifications
    /// outstanding, by user: the dispatcher looks at them again only when
    /// that user's count drops or their job changes.
    parked: BTreeMap<UserId, BTreeSet<u64>>,
    parked_user: BTreeMap<u64, UserId>,
}

impl PartialEq for PendingQueue {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for PendingQueue {}

impl From<BTreeMap<u64, Pending>> for PendingQueue {
    fn from(map: BTreeMap<u64, Pending>) -> Self {
        let mut q = PendingQueue::default();
        for (k, p) in map {
            q.insert(k, p);
        }
        q
    }
}

impl From<PendingQueue> for BTreeMap<u64, Pending> {
    fn from(q: PendingQueue) -> Self {
        q.entries
    }
}

impl PendingQueue {
    /// Adds (or replaces) the entry under `key`. An entry for the same job
    /// and event under another key is removed first.
    pub(super) fn insert(&mut self, key: u64, p: Pending) {
        if let Some(old) = self.by_job_kind.get(&(p.job, p.kind)).copied() {
            self.remove(old);
        }
        self.remove(key);
        self.by_job_kind.insert((p.job, p.kind), key);
        self.by_time.insert((p.not_before, key));
        self.entries.insert(key, p);
    }

    /// Removes the entry under `key`, if any.
    pub(super) fn remove(&mut self, key: u64) -> Option<Pending> {
        let p = self.entries.remove(&key)?;
        self.by_job_kind.remove(&(p.job, p.kind));
        self.by_time.remove(&(p.not_before, key));
        self.forget_parked(key);
        Some(p)
    }

    /// Takes `key` out of the parked sets; true if it was parked.
    fn forget_parked(&mut self, key: u64) -> bool {
        let Some(user) = self.parked_user.remove(&key) else {
            return false;
        };
        if let Some(keys) = self.parked.get_mut(&user) {
            keys.remove(&key);
            if keys.is_empty() {
                self.parked.remove(&user);
            }
        }
        true
    }

    /// Holds a due entry back until `user`'s count drops or its job changes.
    pub(super) fn park(&mut self, key: u64, user: &UserId) {
        let Some(p) = self.entries.get(&key) else {
            return;
        };
        self.by_time.remove(&(p.not_before, key));
        self.parked.entry(user.clone()).or_default().insert(key);
        self.parked_user.insert(key, user.clone());
    }

    /// Puts back every entry parked for `user`.
    pub(super) fn unpark_user(&mut self, user: &UserId) {
        for key in self.parked.remove(user).unwrap_or_default() {
            self.parked_user.remove(&key);
            if let Some(p) = self.entries.get(&key) {
                self.by_time.insert((p.not_before, key));
            }
        }
    }

    /// Puts back every parked entry of `job`.
    pub(super) fn unpark_job(&mut self, job: JobId) {
        for key in self.keys_of(job) {
            if self.forget_parked(key)
                && let Some(p) = self.entries.get(&key)
            {
                self.by_time.insert((p.not_before, key));
            }
        }
    }

    /// Puts back every parked entry.
    pub(super) fn unpark_all(&mut self) {
        let users: Vec<UserId> = self.parked.keys().cloned().collect();
        for u in users {
            self.unpark_user(&u);
        }
    }

    /// The entry under `key`.
    pub(super) fn get(&self, key: u64) -> Option<&Pending> {
        self.entries.get(&key)
    }

    /// The key of the entry for this job and event, if one is pending.
    pub(super) fn key_of(&self, job: JobId, kind: NotifyKind) -> Option<u64> {
        self.by_job_kind.get(&(job, kind)).copied()
    }

    /// The keys of every entry of `job`.
    pub(super) fn keys_of(&self, job: JobId) -> Vec<u64> {
        self.by_job_kind
            .range((job, NotifyKind::JobTransferred)..)
            .take_while(|((j, _), _)| *j == job)
            .map(|(_, &k)| k)
            .collect()
    }

    /// The lowest key of a FileTransferred entry of `job`.
    pub(super) fn first_file_key(&self, job: JobId) -> Option<u64> {
        self.by_job_kind
            .range((job, NotifyKind::FileTransferred(FileRef::File(0)))..)
            .take_while(|((j, _), _)| *j == job)
            .map(|(_, &k)| k)
            .min()
    }

    /// The keys of the entries that may go out at `now`.
    pub(super) fn due(&self, now: Time) -> impl Iterator<Item = u64> + '_ {
        self.by_time.range(..=(now, u64::MAX)).map(|&(_, k)| k)
    }

    /// The earliest `not_before` later than `now`.
    pub(super) fn next_after(&self, now: Time) -> Option<Time> {
        self.by_time
            .range((Time(now.as_millis().saturating_add(1)), 0)..)
            .next()
            .map(|&(t, _)| t)
    }

    /// Is nothing pending?
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Delivered notifications not yet answered, with per-user and per-job
/// counts. Persists as the map from delivery id to entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(
    from = "BTreeMap<NotificationId, InFlight>",
    into = "BTreeMap<NotificationId, InFlight>"
)]
pub(super) struct InFlightTable {
    entries: BTreeMap<NotificationId, InFlight>,
    per_user: BTreeMap<UserId, usize>,
    /// FileTransferred calls in flight, per job.
    files_per_job: BTreeMap<JobId, usize>,
}

impl PartialEq for InFlightTable {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for InFlightTable {}

impl From<BTreeMap<NotificationId, InFlight>> for InFlightTable {
    fn from(map: BTreeMap<NotificationId, InFlight>) -> Self {
        let mut t = InFlightTable::default();
        for (id, f) in map {
            t.insert(id, f);
        }
        t
    }
}

impl From<InFlightTable> for BTreeMap<NotificationId, InFlight> {
    fn from(t: InFlightTable) -> Self {
        t.entries
    }
}

impl InFlightTable {
    /// Records a delivery.
    pub(super) fn insert(&mut self, id: NotificationId, f: InFlight) {
        self.remove(id);
        *self.per_user.entry(f.user.clone()).or_default() += 1;
        if matches!(f.kind, NotifyKind::FileTransferred(_)) {
            *self.files_per_job.entry(f.job).or_default() += 1;
        }
        self.entries.insert(id, f);
    }

    /// Takes delivery `id` out, if it is in flight.
    pub(super) fn remove(&mut self, id: NotificationId) -> Option<InFlight> {
        let f = self.entries.remove(&id)?;
        decrement(&mut self.per_user, &f.user);
        if matches!(f.kind, NotifyKind::FileTransferred(_)) {
            decrement(&mut self.files_per_job, &f.job);
        }
        Some(f)
    }

    /// Delivery `id`, if it is in flight.
    pub(super) fn get(&self, id: NotificationId) -> Option<&InFlight> {
        self.entries.get(&id)
    }

    /// Forgets every delivery (a service restart).
    pub(super) fn clear(&mut self) {
        *self = InFlightTable::default();
    }

    /// Deliveries outstanding for `user`.
    pub(super) fn count_for(&self, user: &UserId) -> usize {
        self.per_user.get(user).copied().unwrap_or(0)
    }

    /// Is a FileTransferred call of `job` in flight?
    pub(super) fn file_busy(&self, job: JobId) -> bool {
        self.files_per_job.contains_key(&job)
    }

    /// Every delivery in flight with its id, in delivery order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&NotificationId, &InFlight)> {
        self.entries.iter()
    }

    /// Every delivery in flight.
    pub(super) fn values(&self) -> impl Iterator<Item = &InFlight> {
        self.entries.values()
    }
}

fn decrement<K: Ord>(map: &mut BTreeMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}
