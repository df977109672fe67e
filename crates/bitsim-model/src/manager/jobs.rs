//! The job table.

use super::*;

/// Every job, in creation order, with an index by GUID: lookups by id are
/// O(log n), and the scheduler's and timers' scans over the live jobs go
/// straight to a job by its creation position. Persists as the list of jobs.
///
/// Every job handed out for change (`get_mut`, `insert`) is remembered in
/// `touched`, so the derived indexes ([`super::index::Index`]) are brought up
/// to date for exactly those jobs: the cost of an event does not grow with
/// the number of jobs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Job>", into = "Vec<Job>")]
pub(super) struct JobTable {
    pub(super) jobs: Vec<Job>,
    pub(super) index: BTreeMap<JobId, usize>,
    /// Creation positions of the jobs changed since the indexes were last
    /// brought up to date (derived; not persisted, not compared).
    pub(super) touched: BTreeSet<u64>,
}

impl PartialEq for JobTable {
    fn eq(&self, other: &Self) -> bool {
        self.jobs == other.jobs
    }
}

impl Eq for JobTable {}

impl From<Vec<Job>> for JobTable {
    fn from(jobs: Vec<Job>) -> Self {
        let index = jobs.iter().enumerate().map(|(i, j)| (j.id, i)).collect();
        let touched = (0..jobs.len() as u64).collect();
        JobTable {
            jobs,
            index,
            touched,
        }
    }
}

impl From<JobTable> for Vec<Job> {
    fn from(t: JobTable) -> Self {
        t.jobs
    }
}

impl JobTable {
    pub(super) fn get(&self, id: &JobId) -> Option<&Job> {
        self.index.get(id).and_then(|&i| self.jobs.get(i))
    }
    pub(super) fn get_mut(&mut self, id: &JobId) -> Option<&mut Job> {
        let &i = self.index.get(id)?;
        self.touched.insert(i as u64);
        self.jobs.get_mut(i)
    }
    /// Marks a job as changed in a way its own fields do not show (its
    /// owner logged on or off).
    pub(super) fn touch_seq(&mut self, seq: u64) {
        self.touched.insert(seq);
    }
    pub(super) fn contains_key(&self, id: &JobId) -> bool {
        self.index.contains_key(id)
    }
    /// Appends a job; its `creation_seq` must be its position.
    pub(super) fn insert(&mut self, id: JobId, job: Job) {
        debug_assert_eq!(job.creation_seq as usize, self.jobs.len());
        self.index.insert(id, self.jobs.len());
        self.touched.insert(self.jobs.len() as u64);
        self.jobs.push(job);
    }
    pub(super) fn values(&self) -> impl Iterator<Item = &Job> {
        self.jobs.iter()
    }
    pub(super) fn len(&self) -> usize {
        self.jobs.len()
    }
    /// The job at creation position `seq`.
    pub(super) fn by_seq(&self, seq: u64) -> Option<&Job> {
        self.jobs.get(seq as usize)
    }
}
