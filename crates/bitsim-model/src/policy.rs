//! Group-policy settings and the model's tunables, with documented defaults.

use serde::{Deserialize, Serialize};
use std::time::Duration;

const DAY: u64 = 86_400;

/// The BITS group-policy settings \[GP\] plus the model's own tunables where
/// the documentation is silent (each tunable names its decision in
/// [`crate::manual::decisions`]). One value, serializable, with the
/// documented defaults (\[GP\], \[SETRETRY\], \[SETNOPROG\], \[CB\]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Policy {
    /// JobInactivityTimeout: 90 days, ADMX range 1-999 days \[GP\] \[GP-INACT\].
    #[serde(with = "secs")]
    pub job_inactivity_timeout: Duration,
    /// MaxDownloadTime: 90 days; a job's own MaximumDownloadTime overrides it \[GP\] \[SETMAXDL\].
    #[serde(with = "secs")]
    pub max_download_time: Duration,
    /// MaxJobsPerUser: 60; admins exempt \[GP\] \[CREATEJOB\].
    pub max_jobs_per_user: u32,
    /// MaxJobsPerMachine: 300; admins exempt \[GP\] \[CREATEJOB\].
    pub max_jobs_per_machine: u32,
    /// MaxFilesPerJob: 200; admins exempt \[GP\] \[ADDFILE\].
    pub max_files_per_job: u32,
    /// MaxRangesPerFile: 500; admins exempt \[GP\] \[ADDRANGES\].
    pub max_ranges_per_file: u32,
    /// MaxInternetBandwidth windows; a window with limit 0 blocks background
    /// jobs (T29) \[GP\] \[NETBW\]. Empty by default.
    pub bandwidth_windows: Vec<BandwidthWindow>,
    /// Four notifications outstanding per user at most \[CB\] \[JOBERR\].
    pub max_outstanding_notifications_per_user: u32,
    /// Minimum interval between JobModification calls for one job: 500 ms \[PROPID\].
    #[serde(with = "millis")]
    pub min_notification_interval: Duration,
    /// Re-call interval for a callback that did not return S_OK; `None` uses
    /// the job's MinimumRetryDelay (decision A9).
    #[serde(with = "opt_secs")]
    pub callback_retry_interval: Option<Duration>,
    /// Upload-job cancel window: 24 h, or the no-progress timeout if shorter \[CANCEL\].
    #[serde(with = "secs")]
    pub upload_cancel_window: Duration,
    /// Round-robin time slice for background jobs of equal priority
    /// (decision A20: 5 minutes; undocumented in BITS).
    #[serde(with = "secs")]
    pub time_slice: Duration,
    /// How many FOREGROUND jobs may run at once; `None` = all of them
    /// (BITS 2.0+ runs every foreground job concurrently \[LC\]).
    pub foreground_concurrency: Option<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            job_inactivity_timeout: Duration::from_secs(90 * DAY),
            max_download_time: Duration::from_secs(90 * DAY),
            max_jobs_per_user: 60,
            max_jobs_per_machine: 300,
            max_files_per_job: 200,
            max_ranges_per_file: 500,
            bandwidth_windows: Vec::new(),
            max_outstanding_notifications_per_user: 4,
            min_notification_interval: Duration::from_millis(500),
            callback_retry_interval: None,
            upload_cancel_window: Duration::from_secs(DAY),
            time_slice: Duration::from_secs(300),
            foreground_concurrency: None,
        }
    }
}

/// A daily MaxInternetBandwidth window, as offsets into each 24-hour day of
/// the model's clock (time zero is midnight) \[GP\].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthWindow {
    /// Start, seconds after midnight.
    pub start_secs: u32,
    /// End (exclusive), seconds after midnight; may wrap past midnight.
    pub end_secs: u32,
    /// Limit in bytes per second; 0 blocks background transfers.
    pub limit_bytes_per_sec: u64,
}

impl BandwidthWindow {
    /// True if `t_ms` (model time) lies in this window.
    pub fn contains(&self, t_ms: u64) -> bool {
        let s = ((t_ms / 1000) % DAY) as u32;
        if self.start_secs <= self.end_secs {
            (self.start_secs..self.end_secs).contains(&s)
        } else {
            s >= self.start_secs || s < self.end_secs
        }
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_secs))
    }
}
