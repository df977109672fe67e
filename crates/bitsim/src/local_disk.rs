//! The simulator's view of the local disk: which destinations are
//! published, and which temporary files exist for which job and
//! destination.
//!
//! A download goes to a temporary file that Complete renames to the
//! destination; its name is the model's
//! [`temp_file_name`](bitsim_model::temp_file_name) (decision A30), the
//! same one the real-time driver writes. Because that name depends on the
//! job and the file, the disk also records which destination each
//! temporary file stands for, so an expectation about a destination (no
//! file and no temporary file left at `p`) can be answered without knowing
//! the job that wrote it.

use bitsim_model::{FileRef, JobId, temp_file_name};
use std::collections::{BTreeMap, BTreeSet};

/// Published files and the temporary files of downloads in progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalDisk {
    /// Published files (destinations and reply files).
    published: BTreeSet<String>,
    /// Temporary file path -> the destination it stands for.
    temps: BTreeMap<String, String>,
    /// Destination -> how many temporary files stand for it (several jobs
    /// may download to one destination, each with its own temporary file).
    temps_for: BTreeMap<String, usize>,
}

impl LocalDisk {
    /// A transfer of `file` of `job` to `dest` starts: its temporary file
    /// exists from now on (creating it again is a no-op).
    pub(crate) fn create_temp(&mut self, dest: &str, job: JobId, file: FileRef) {
        let path = temp_file_name(dest, job, file);
        if self.temps.insert(path, dest.to_owned()).is_none() {
            *self.temps_for.entry(dest.to_owned()).or_default() += 1;
        }
    }

    /// The temporary file of `file` of `job` (destination `dest`) is gone:
    /// deleted, or renamed to the destination.
    pub(crate) fn remove_temp(&mut self, dest: &str, job: JobId, file: FileRef) {
        let path = temp_file_name(dest, job, file);
        if let Some(dest) = self.temps.remove(&path)
            && let Some(n) = self.temps_for.get_mut(&dest)
        {
            *n -= 1;
            if *n == 0 {
                self.temps_for.remove(&dest);
            }
        }
    }

    /// `path` is published (a destination after Complete, or a reply file).
    pub(crate) fn publish(&mut self, path: String) {
        self.published.insert(path);
    }

    /// True if `path` is a published file.
    pub(crate) fn is_published(&self, path: &str) -> bool {
        self.published.contains(path)
    }

    /// True if any file is at `path`: published, or a temporary file.
    pub(crate) fn exists(&self, path: &str) -> bool {
        self.published.contains(path) || self.temps.contains_key(path)
    }

    /// True if some job's temporary file stands for destination `dest`.
    pub(crate) fn has_temp_for(&self, dest: &str) -> bool {
        self.temps_for.contains_key(dest)
    }

    /// True if the temporary file of `file` of `job` (destination `dest`)
    /// exists.
    pub(crate) fn has_temp(&self, dest: &str, job: JobId, file: FileRef) -> bool {
        self.temps.contains_key(&temp_file_name(dest, job, file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temps_are_per_job_and_counted_per_destination() {
        let a = JobId::from_random_bytes([1; 16]);
        let b = JobId::from_random_bytes([2; 16]);
        let mut d = LocalDisk::default();
        d.create_temp("/d/f", a, FileRef::File(0));
        d.create_temp("/d/f", a, FileRef::File(0));
        d.create_temp("/d/f", b, FileRef::File(0));
        assert!(d.has_temp("/d/f", a, FileRef::File(0)));
        assert!(d.exists(&temp_file_name("/d/f", b, FileRef::File(0))));
        assert!(!d.exists("/d/f") && d.has_temp_for("/d/f"));
        d.remove_temp("/d/f", a, FileRef::File(0));
        assert!(!d.has_temp("/d/f", a, FileRef::File(0)));
        assert!(
            d.has_temp_for("/d/f"),
            "job b's temporary file is still there"
        );
        d.remove_temp("/d/f", b, FileRef::File(0));
        d.remove_temp("/d/f", b, FileRef::File(0));
        assert!(!d.has_temp_for("/d/f"));
        d.publish("/d/f".into());
        assert!(d.is_published("/d/f") && d.exists("/d/f"));
    }
}
