//! The transition table: the one place where BITS's state rules live.
//!
//! Rows T1-T34 are the life cycle of a BITS job as the Microsoft pages
//! describe it (\[LC\], \[STATE\] and each method's page); rows X1-X4 are transitions the model
//! needs that the table does not list, each backed by a decision in
//! [`crate::manual::decisions`]. The engine never picks a target state by
//! itself: it names the [`Rule`] that fires and takes the target from
//! [`Rule::transition`], so the diagram, the docs and the narrated traces
//! generated from [`TRANSITIONS`] describe exactly what the code does.

use crate::types::JobState::{self, *};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a rule leaves the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Into this state.
    State(JobState),
    /// The state does not change.
    Unchanged,
}

/// One row of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The rule this row is.
    pub rule: Rule,
    /// What makes it fire (an API call, a transport event, a timer).
    pub trigger: &'static str,
    /// The guard, if any, in words.
    pub guard: &'static str,
    /// States the rule fires from; empty for job creation.
    pub from: &'static [JobState],
    /// Where it leaves the job.
    pub to: Target,
    /// Side effects and notes.
    pub effects: &'static str,
    /// Source tags (see [`crate::sources`]).
    pub sources: &'static [&'static str],
}

macro_rules! rules {
    ($( $(#[$doc:meta])* $v:ident => $id:literal, $trigger:literal, $guard:literal, [$($from:ident),*], $to:expr, $effects:literal, [$($src:literal),*]; )*) => {
        /// A row of the transition table, by its id (T1-T34, X1-X4).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Rule { $( $(#[$doc])* $v, )* }

        /// The whole table, in row order.
        pub const TRANSITIONS: &[Transition] = &[
            $( Transition { rule: Rule::$v, trigger: $trigger, guard: $guard, from: &[$($from),*], to: $to, effects: $effects, sources: &[$($src),*] }, )*
        ];

        impl Rule {
            /// The row id, e.g. `"T24"`.
            pub const fn id(self) -> &'static str {
                match self { $( Rule::$v => $id, )* }
            }
        }
    };
}

rules! {
    /// CreateJob.
    T1 => "T1", "CreateJob", "", [], Target::State(Suspended),
        "new GUID; notify flags 0x3; priority NORMAL; retry 600 s; no-progress 14 d",
        ["STATE", "SETPRIO", "SETRETRY", "SETNOPROG", "WINE-TJOB"];
    /// Resume with at least one file.
    T2 => "T2", "Resume", "job has at least one file", [Suspended], Target::State(Queued), "", ["RESUME"];
    /// Resume with no files.
    T3 => "T3", "Resume", "job has no files", [Suspended], Target::Unchanged, "returns BG_E_EMPTY", ["LC", "RESUME", "WINE-TJOB"];
    /// Resume from ERROR.
    T4 => "T4", "Resume", "", [Error], Target::State(Queued), "app is expected to have fixed the cause; error info cleared", ["STATE", "LC"];
    /// Resume from TRANSIENT_ERROR.
    T5 => "T5", "Resume", "", [TransientError], Target::State(Queued), "immediate retry, bypasses the retry delay", ["SETRETRY", "LC"];
    /// Resume of an active job.
    T6 => "T6", "Resume", "", [Queued, Connecting, Transferring], Target::Unchanged, "S_OK", ["LC"];
    /// Resume of a transferred job after AddFile.
    T7 => "T7", "Resume", "files were added after TRANSFERRED", [Transferred], Target::State(Queued), "documented as allowed but uncommon", ["LC"];
    /// Suspend.
    T8 => "T8", "Suspend", "", [Queued, Connecting, Transferring, Suspended, TransientError], Target::State(Suspended),
        "stops transfers; ERROR and TRANSFERRED are left as they are (decision A1)", ["LC", "SUSPEND"];
    /// Cancel.
    T9 => "T9", "Cancel", "", [Queued, Connecting, Transferring, Suspended, Error, TransientError, Transferred], Target::State(Cancelled),
        "deletes temp files; an unfinished upload lingers up to 24 h while the server is told", ["CANCEL"];
    /// Complete of a download.
    T10 => "T10", "Complete (download)", "every rename succeeded", [Queued, Connecting, Transferring, Suspended, Error, TransientError, Transferred], Target::State(Acknowledged),
        "S_OK if all files done, BG_S_PARTIAL_COMPLETE if only some; incomplete files deleted", ["COMPLETE"];
    /// Complete whose rename fails.
    T11 => "T11", "Complete", "renaming a temp file fails", [Queued, Connecting, Transferring, Suspended, Error, TransientError, Transferred], Target::Unchanged,
        "returns the rename error; files already renamed stay visible", ["COMPLETE"];
    /// Complete of an upload.
    T12 => "T12", "Complete (upload / upload-reply)", "job is TRANSFERRED", [Transferred], Target::State(Acknowledged),
        "any other state -> BG_E_INVALID_STATE; the reply file becomes visible", ["COMPLETE", "COMPLCAN"];
    /// The scheduler gives the job its turn.
    T13 => "T13", "scheduler gives the job its turn", "owner logged on, network up, not blocked by policy", [Queued], Target::State(Connecting), "", ["LC-OLD", "USERS"];
    /// Connection established.
    T14 => "T14", "connection established", "", [Connecting], Target::State(Transferring), "error info cleared", ["STATE"];
    /// Connection fails.
    T15 => "T15", "connection fails", "error is transient", [Connecting], Target::State(TransientError), "EC++; retry timer armed; no JobError", ["STATE", "ERRCOUNT"];
    /// Bytes arrive.
    T16 => "T16", "bytes arrive", "", [Transferring], Target::Unchanged,
        "progress grows; resets no-progress and inactivity timers; JobModification", ["SETNOPROG", "GP", "JOBMOD"];
    /// One file finished.
    T17 => "T17", "one file finished", "", [Transferring], Target::Unchanged, "FileTransferred (download and reply portion only)", ["FILEXFER"];
    /// Time slice over / preempted.
    T18 => "T18", "time slice ends / higher-priority job preempts", "", [Connecting, Transferring], Target::State(Queued), "round-robin within a priority", ["LC-OLD", "PRIO"];
    /// Owner logs off.
    T19 => "T19", "owner logs off", "", [Connecting, Transferring], Target::State(Queued), "job waits for the owner to log on again", ["STATE", "USERS"];
    /// All files done.
    T20 => "T20", "all files done", "upload-reply: reply done too", [Transferring], Target::State(Transferred),
        "TransferCompletionTime stamped; JobTransferred; no JobModification", ["JOBXFER", "JOBMOD", "TIMES"];
    /// A recoverable error.
    T21 => "T21", "recoverable error", "error is transient", [Transferring], Target::State(TransientError),
        "EC++ (not for disconnects); retry timer armed; no JobError", ["JOBERR", "ERRCOUNT"];
    /// An unrecoverable error.
    T22 => "T22", "unrecoverable error", "error is fatal", [Connecting, Transferring], Target::State(Error), "EC++; JobError; no JobModification", ["STATE", "JOBERR", "JOBMOD"];
    /// The retry delay elapsed.
    T23 => "T23", "retry delay elapsed", "no-progress timeout not expired", [TransientError], Target::State(Queued), "", ["STATE", "ERRCOUNT"];
    /// No progress for NoProgressTimeout.
    T24 => "T24", "no progress for NoProgressTimeout since the first transient error", "", [TransientError], Target::State(Error), "JobError", ["SETNOPROG", "GETERROR"];
    /// MinimumRetryDelay > NoProgressTimeout.
    T25 => "T25", "entering TRANSIENT_ERROR", "MinimumRetryDelay > NoProgressTimeout", [TransientError], Target::State(Error), "no retry at all; JobError", ["SETRETRY"];
    /// NoProgressTimeout = 0.
    T26 => "T26", "any error", "NoProgressTimeout = 0", [Connecting, Transferring], Target::State(Error), "EC++; JobError", ["SETNOPROG"];
    /// Network lost.
    T27 => "T27", "network lost", "", [Queued, Connecting, Transferring], Target::State(TransientError),
        "BG_E_NETWORK_DISCONNECTED; EC not incremented; not retried on the timer (CONNECTING: decision A13)", ["USERS", "RETVALS", "ERRCOUNT", "STATE"];
    /// Network restored.
    T28 => "T28", "network restored", "", [TransientError], Target::State(Queued), "all jobs in TRANSIENT_ERROR, whatever the code", ["USERS"];
    /// MaxInternetBandwidth = 0.
    T29 => "T29", "MaxInternetBandwidth policy window with limit 0 begins", "background job", [Queued, Connecting, Transferring], Target::State(TransientError),
        "BG_E_BLOCKED_BY_POLICY; not retried on the timer; EC not incremented", ["GP"];
    /// MaximumDownloadTime exceeded.
    T30 => "T30", "CONNECTING+TRANSFERRING time > MaximumDownloadTime", "", [Connecting, Transferring], Target::State(Error), "BG_E_MAXDOWNLOAD_TIMEOUT; EC++; JobError", ["SETMAXDL"];
    /// JobInactivityTimeout expires.
    T31 => "T31", "JobInactivityTimeout expires", "", [Queued, Connecting, Transferring, Suspended, Error, TransientError, Transferred], Target::State(Cancelled),
        "job removed; temp and reply files deleted; uploaded server files untouched", ["GP", "COMPLETE", "JOBERR", "GP-INACT"];
    /// SetValidationState(FALSE).
    T32 => "T32", "SetValidationState(FALSE)", "content from the origin server", [Transferring, Transferred], Target::State(Error), "BG_E_VALIDATION_FAILED; JobError", ["JOBXFER", "FILEXFER"];
    /// TakeOwnership.
    T33 => "T33", "TakeOwnership (admin)", "", [Queued, Connecting, Transferring, Suspended, Error, TransientError, Transferred], Target::Unchanged,
        "owner changes; command line removed; runs only while the new owner is logged on", ["TAKEOWN"];
    /// SetRemoteName.
    T34 => "T34", "SetRemoteName (download jobs)", "", [Queued, Connecting, Transferring, Suspended, Error, TransientError, Transferred], Target::Unchanged,
        "takes effect at the next transfer of the file; finished files are not redone", ["SETREMOTE", "REPLPREFIX"];
    /// Bandwidth policy window ends.
    X1 => "X1", "MaxInternetBandwidth window with limit 0 ends", "job was blocked by policy", [TransientError], Target::State(Queued), "the second half of T29", ["GP"];
    /// Service restart.
    X2 => "X2", "service restart", "", [Connecting, Transferring], Target::State(Queued),
        "the persisted queue survives; callback pointers do not (decision A25)", ["SETNOTIFYIF", "REGCB"];
    /// Upload-cancel window over.
    X3 => "X3", "upload cancel: server acknowledged, or 24 h / no-progress timeout passed", "", [Cancelled], Target::Unchanged,
        "the lingering upload job is removed", ["CANCEL", "COMPLCAN"];
    /// AddFile on an active or transferred job.
    X4 => "X4", "AddFile", "", [Queued, Connecting, Transferring, Suspended, Error, TransientError, Transferred], Target::Unchanged,
        "the file is appended (FIFO); state changes only at Resume (decision A3)", ["ADDFILE", "LC"];
}

impl Rule {
    /// This rule's row.
    pub fn transition(self) -> &'static Transition {
        TRANSITIONS
            .iter()
            .find(|t| t.rule == self)
            .expect("every Rule has a row: the macro builds both")
    }

    /// Where this rule leaves a job that was in `from`.
    pub fn target(self, from: JobState) -> JobState {
        match self.transition().to {
            Target::State(s) => s,
            Target::Unchanged => from,
        }
    }

    /// True when the row lists `from` (T1 lists none).
    pub fn fires_from(self, from: JobState) -> bool {
        self.transition().from.contains(&from)
    }

    /// Every rule, in row order.
    pub fn all() -> impl Iterator<Item = Rule> {
        TRANSITIONS.iter().map(|t| t.rule)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_34_documented_rows_in_order() {
        let t: Vec<_> = TRANSITIONS
            .iter()
            .filter(|t| t.rule.id().starts_with('T'))
            .collect();
        assert_eq!(t.len(), 34);
        for (i, row) in t.iter().enumerate() {
            assert_eq!(row.rule.id(), format!("T{}", i + 1));
        }
    }

    #[test]
    fn every_row_cites_a_known_source() {
        for row in TRANSITIONS {
            assert!(!row.sources.is_empty(), "{} cites nothing", row.rule);
            for s in row.sources {
                assert!(
                    crate::sources::source_url(s).is_some(),
                    "{}: unknown tag {s}",
                    row.rule
                );
            }
        }
    }

    #[test]
    fn final_states_are_never_a_source_of_a_state_change() {
        for row in TRANSITIONS {
            if matches!(row.to, Target::State(_)) {
                assert!(row.from.iter().all(|s| !s.is_final()), "{}", row.rule);
            }
        }
    }
}
