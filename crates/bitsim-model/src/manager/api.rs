//! The COM API: `IBackgroundCopyManager` and `IBackgroundCopyJob`..`Job5`.

use super::validate::{validate_local, validate_ranges, validate_remote};
use super::*;

impl Manager {
    // ------------------------------------------------------------------
    // IBackgroundCopyManager
    // ------------------------------------------------------------------

    /// `CreateJob` (T1). The driver supplies the GUID. Errors:
    /// `E_INVALIDARG` for a display name over 256 characters \[CREATEJOB\] or a
    /// GUID in use; `BG_E_TOO_MANY_JOBS_PER_USER` / `_PER_MACHINE` over the
    /// policy limits, admins exempt \[GP\] \[CREATEJOB\].
    pub fn create_job(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        display_name: &str,
        job_type: JobType,
    ) -> Result<JobId> {
        self.advance(now);
        if display_name.chars().count() > MAX_DISPLAY_NAME || self.jobs.contains_key(&id) {
            return Err(Error::new(Hresult::E_INVALIDARG));
        }
        if !caller.admin {
            let mine = self.index.live_jobs_of(&caller.user) as u64;
            let all = self.live.len() as u64;
            if mine >= u64::from(self.policy.max_jobs_per_user) {
                return Err(Error::new(Hresult::BG_E_TOO_MANY_JOBS_PER_USER));
            }
            if all >= u64::from(self.policy.max_jobs_per_machine) {
                return Err(Error::new(Hresult::BG_E_TOO_MANY_JOBS_PER_MACHINE));
            }
        }
        let job = Job {
            id,
            display_name: display_name.to_owned(),
            description: String::new(),
            job_type,
            owner: caller.user.clone(),
            state: JobState::Suspended,
            priority: JobPriority::Normal,
            files: Vec::new(),
            notify_flags: NotifyFlags::DEFAULT,
            notify_interface: None,
            notify_cmd_line: None,
            minimum_retry_delay: Duration::from_secs(600),
            no_progress_timeout: Duration::from_secs(14 * 86_400),
            maximum_download_time: self.policy.max_download_time,
            error: None,
            error_count: 0,
            times: JobTimes {
                creation_time: now,
                modification_time: now,
                transfer_completion_time: None,
            },
            reply: (job_type == JobType::UploadReply).then(|| Reply {
                bytes_total: BG_SIZE_UNKNOWN,
                ..Reply::default()
            }),
            current_file: 0,
            blocked: None,
            timers: JobTimers {
                last_activity: now,
                ..JobTimers::default()
            },
            queue_seq: 0,
            removed: false,
            files_added_after_transfer: false,
            cancelling_upload: false,
            started: false,
            creation_seq: self.jobs.len() as u64,
        };
        self.live.insert((job.creation_seq, id));
        self.jobs.insert(id, job);
        self.emit_transition(id, Rule::T1, JobState::Suspended, JobState::Suspended, None);
        self.settle();
        Ok(id)
    }

    /// `GetJob`: `BG_E_NOT_FOUND` for unknown or finished jobs (decision
    /// A16), `E_ACCESSDENIED` for another user's job unless admin \[GETJOB\].
    pub fn get_job(&self, caller: &Caller, id: JobId) -> Result<&Job> {
        let job = self.jobs.get(&id).filter(|j| !j.removed);
        let job = job.ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        if job.owner != caller.user && !caller.admin {
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        Ok(job)
    }

    /// A job read through an interface pointer `caller` holds: the owner
    /// (or an administrator) could obtain it \[USERS\] \[GETJOB\], so another
    /// user gets `E_ACCESSDENIED`; a held pointer keeps reading a job that
    /// has since finished (decision A16). Every driver's job view reads
    /// through this.
    pub fn job_as(&self, caller: &Caller, id: JobId) -> Result<&Job> {
        let job = self
            .jobs
            .get(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        if job.owner != caller.user && !caller.admin {
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        Ok(job)
    }

    /// `EnumJobs`: the caller's jobs, or every user's with
    /// [`BG_JOB_ENUM_ALL_USERS`] (admin only, else `E_ACCESSDENIED`)
    /// \[ENUMJOBS\]. Finished jobs are not listed \[LC\]. Order: creation order
    /// (BITS leaves it arbitrary).
    pub fn enum_jobs(&self, caller: &Caller, flags: u32) -> Result<Vec<JobId>> {
        if flags & !BG_JOB_ENUM_ALL_USERS != 0 {
            return Err(Error::new(Hresult::E_INVALIDARG));
        }
        let all = flags & BG_JOB_ENUM_ALL_USERS != 0;
        if all && !caller.admin {
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        Ok(self
            .all_jobs()
            .filter(|j| !j.removed && (all || j.owner == caller.user))
            .map(|j| j.id)
            .collect())
    }

    // ------------------------------------------------------------------
    // IBackgroundCopyJob..Job5
    // ------------------------------------------------------------------

    /// `AddFile`. Download jobs take many files (MaxFilesPerJob, admins
    /// exempt → `BG_E_TOO_MANY_FILES_IN_JOB` \[ADDFILE\]); upload jobs take one
    /// (`BG_E_TOO_MANY_FILES` \[ADDFILE\]). Bad names → `E_INVALIDARG`
    /// \[FILEINFO\]. Final jobs → `BG_E_INVALID_STATE`. The state does not
    /// change (X4, decision A3).
    pub fn add_file(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        remote: &str,
        local: &str,
    ) -> Result<()> {
        self.add_file_inner(now, caller, id, remote, local, None)
    }

    /// `IBackgroundCopyJob3::AddFileWithRanges` \[ADDRANGES\]: download jobs
    /// only (`E_NOTIMPL`); no ranges → `E_INVALIDARG`; over
    /// MaxRangesPerFile → `BG_E_TOO_MANY_RANGES_IN_FILE`; overlapping →
    /// `BG_E_OVERLAPPING_RANGES`; zero-length → `BG_E_INVALID_RANGE`.
    pub fn add_file_with_ranges(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        remote: &str,
        local: &str,
        ranges: &[ByteRange],
    ) -> Result<()> {
        self.add_file_inner(now, caller, id, remote, local, Some(ranges))
    }

    pub(super) fn add_file_inner(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        remote: &str,
        local: &str,
        ranges: Option<&[ByteRange]>,
    ) -> Result<()> {
        self.advance(now);
        let max_files = self.policy.max_files_per_job;
        let max_ranges = self.policy.max_ranges_per_file;
        let job = self.job_for_change(caller, id)?;
        if ranges.is_some() && job.job_type.is_upload() {
            return Err(Error::new(Hresult::E_NOTIMPL));
        }
        validate_remote(remote, job.job_type)?;
        validate_local(local)?;
        if job.job_type.is_upload() && !job.files.is_empty() {
            return Err(Error::new(Hresult::BG_E_TOO_MANY_FILES));
        }
        if !caller.admin && job.files.len() as u32 >= max_files {
            return Err(Error::new(Hresult::BG_E_TOO_MANY_FILES_IN_JOB));
        }
        let mut total = BG_SIZE_UNKNOWN;
        if let Some(ranges) = ranges {
            validate_ranges(ranges, max_ranges, caller.admin)?;
            if ranges.iter().all(|r| r.length != BG_LENGTH_TO_EOF) {
                total = ranges.iter().map(|r| r.length).sum();
            }
        }
        let job = self
            .jobs
            .get_mut(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        job.files.push(FileEntry {
            remote_name: remote.to_owned(),
            local_name: local.to_owned(),
            ranges: ranges.map(<[ByteRange]>::to_vec),
            bytes_total: total,
            bytes_transferred: 0,
            transferred: false,
            completed: false,
            has_temp: false,
        });
        if job.state == JobState::Transferred {
            job.files_added_after_transfer = true;
        }
        let st = job.state;
        self.emit_transition(id, Rule::X4, st, st, None);
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// `IBackgroundCopyFile2::SetRemoteName` (T34): download jobs only
    /// (`E_NOTIMPL` \[SETREMOTE\]); takes effect at the file's next transfer.
    pub fn set_remote_name(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        file: usize,
        remote: &str,
    ) -> Result<()> {
        self.advance(now);
        let job = self.job_for_change(caller, id)?;
        if job.job_type.is_upload() {
            return Err(Error::new(Hresult::E_NOTIMPL));
        }
        validate_remote(remote, job.job_type)?;
        let job = self
            .jobs
            .get_mut(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        let f = job
            .files
            .get_mut(file)
            .ok_or(Error::new(Hresult::E_INVALIDARG))?;
        f.remote_name = remote.to_owned();
        let st = job.state;
        self.emit_transition(id, Rule::T34, st, st, None);
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// `Resume` (T2-T7) \[RESUME\] \[LC\].
    pub fn resume(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<()> {
        self.advance(now);
        let job = self.job_for_change(caller, id)?;
        let st = job.state;
        let empty = job.files.is_empty();
        let added = job.files_added_after_transfer;
        match st {
            JobState::Suspended if empty => {
                // T3: BG_E_EMPTY, still SUSPENDED [RESUME] [WINE-TJOB].
                self.emit_transition(id, Rule::T3, st, st, None);
                return Err(Error::new(Hresult::BG_E_EMPTY));
            }
            JobState::Suspended => {
                self.fire(id, Rule::T2, None);
            }
            JobState::Error => {
                // A fresh start after the app fixed the cause: the
                // no-progress clock restarts (decision A7).
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.timers.no_progress_since = None;
                }
                self.fire(id, Rule::T4, None);
            }
            JobState::TransientError => self.fire(id, Rule::T5, None),
            JobState::Queued | JobState::Connecting | JobState::Transferring => {
                self.emit_transition(id, Rule::T6, st, st, None)
            }
            JobState::Transferred if added => self.fire(id, Rule::T7, None),
            // Decision A2: Resume of a TRANSFERRED job with nothing new: S_OK, no change.
            JobState::Transferred => {}
            // job_for_change refused these above.
            JobState::Acknowledged | JobState::Cancelled => {
                return Err(Error::new(Hresult::BG_E_INVALID_STATE));
            }
        }
        // Resume restarts the MaximumDownloadTime budget [SETMAXDL].
        let job = self
            .jobs
            .get_mut(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        job.timers.active_used_ms = 0;
        if job.timers.active_since.is_some() {
            job.timers.active_since = Some(self.now);
        }
        // No SetReplyFileName before the first Resume: BITS generates the
        // reply's name in the upload file's directory [REPLYFILE] (A32).
        if let (Some(reply), Some(upload)) = (job.reply.as_mut(), job.files.first())
            && reply.file_name.is_none()
        {
            reply.file_name = Some(crate::job::invented_reply_file_name(&upload.local_name, id));
        }
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// `Suspend` (T8) \[SUSPEND\]. ERROR and TRANSFERRED jobs are already
    /// "automatically suspended" and stay as they are (decision A1).
    pub fn suspend(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<()> {
        self.advance(now);
        let st = self.job_for_change(caller, id)?.state;
        if Rule::T8.fires_from(st) {
            self.fire(id, Rule::T8, None);
        }
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// `Cancel` (T9) \[CANCEL\]: temp files deleted; an unfinished upload
    /// tells the server (Cancel-Session) and lingers out of sight up to 24 h
    /// (X3, decision A22); a finished upload's server file is untouched; an
    /// upload-reply job's reply request is cancelled \[COMPLCAN\].
    pub fn cancel(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<Hresult> {
        self.advance(now);
        self.job_for_change(caller, id)?;
        self.cancel_job(id, Rule::T9);
        self.settle();
        Ok(Hresult::S_OK)
    }

    /// `Complete` with every rename succeeding. See [`Manager::complete_with`].
    pub fn complete(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<Hresult> {
        self.complete_with(now, caller, id, &mut |_, _| Ok(()))
    }

    /// `Complete` (T10-T12) \[COMPLETE\]. `publish` renames one temporary file
    /// to its final name (the driver's IO); if it fails the call returns
    /// that error and the job keeps its state (T11, decision A18).
    ///
    /// Downloads: any non-final state; `S_OK` if every file was transferred,
    /// `BG_S_PARTIAL_COMPLETE` if only some (the rest are deleted).
    /// Uploads: only from TRANSFERRED, else `BG_E_INVALID_STATE` \[COMPLETE\].
    pub fn complete_with(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        publish: &mut dyn FnMut(JobId, FileRef) -> std::result::Result<(), Hresult>,
    ) -> Result<Hresult> {
        self.advance(now);
        let job = self.job_for_change(caller, id)?;
        if job.job_type.is_upload() {
            if job.state != JobState::Transferred {
                return Err(Error::new(Hresult::BG_E_INVALID_STATE));
            }
            if job.job_type == JobType::UploadReply {
                if let Err(code) = publish(id, FileRef::Reply) {
                    // T11: the rename error, state unchanged (decision A18).
                    let st = job.state;
                    self.emit_transition(id, Rule::T11, st, st, Some(code));
                    self.touch(id, true);
                    self.settle();
                    return Err(Error::new(code));
                }
                self.outputs.push_back(Output::FilePublished {
                    job: id,
                    file: FileRef::Reply,
                });
            }
            self.fire(id, Rule::T12, None);
            self.finish(id);
            self.settle();
            return Ok(Hresult::S_OK);
        }
        let to_publish: Vec<usize> = job
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.transferred && !f.completed)
            .map(|(i, _)| i)
            .collect();
        let partial = job.files.iter().any(|f| !f.transferred);
        for i in to_publish {
            if let Err(code) = publish(id, FileRef::File(i)) {
                let st = self.state_of(id).unwrap_or(JobState::Transferred);
                self.emit_transition(id, Rule::T11, st, st, Some(code));
                self.touch(id, true);
                self.settle();
                return Err(Error::new(code));
            }
            if let Some(f) = self.jobs.get_mut(&id).and_then(|j| j.files.get_mut(i)) {
                f.completed = true;
            }
            self.outputs.push_back(Output::FilePublished {
                job: id,
                file: FileRef::File(i),
            });
        }
        self.stop_if_active(id);
        let incomplete: Vec<usize> = self
            .jobs
            .get(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.transferred && f.has_temp)
            .map(|(i, _)| i)
            .collect();
        for i in incomplete {
            self.outputs.push_back(Output::DeleteTempFile {
                job: id,
                file: FileRef::File(i),
            });
            if let Some(f) = self.jobs.get_mut(&id).and_then(|j| j.files.get_mut(i)) {
                f.has_temp = false;
            }
        }
        self.fire(id, Rule::T10, None);
        self.finish(id);
        self.settle();
        Ok(if partial {
            Hresult::BG_S_PARTIAL_COMPLETE
        } else {
            Hresult::S_OK
        })
    }

    /// `SetPriority` \[SETPRIO\].
    pub fn set_priority(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        priority: JobPriority,
    ) -> Result<()> {
        self.set_priority_raw(now, caller, id, priority.as_u32())
    }

    /// `SetPriority` with the raw value: outside the enum → `E_NOTIMPL` \[SETPRIO\].
    pub fn set_priority_raw(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        priority: u32,
    ) -> Result<()> {
        self.sched.dirty = true;
        self.set_property(now, caller, id, |job| {
            job.priority = JobPriority::from_u32(priority).ok_or(Error::new(Hresult::E_NOTIMPL))?;
            Ok(())
        })
    }

    /// `SetNotifyFlags`: unknown bits → `E_NOTIMPL` \[SETNOTIFY\]. Level-triggered
    /// events are re-raised \[CB\].
    pub fn set_notify_flags(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        flags: u32,
    ) -> Result<()> {
        let mut newly = false;
        self.set_property(now, caller, id, |job| {
            if flags & !NotifyFlags::ALL_BITS != 0 {
                return Err(Error::new(Hresult::E_NOTIMPL));
            }
            // Newly *effective*: a bit just set, or DISABLE just cleared
            // under bits already set [SETNOTIFY].
            let (old, new) = (job.notify_flags, NotifyFlags(flags));
            newly = [NotifyFlags::JOB_TRANSFERRED, NotifyFlags::JOB_ERROR]
                .into_iter()
                .any(|f| new.wants(f) && !old.wants(f));
            job.notify_flags = new;
            Ok(())
        })?;
        if newly {
            self.rearm_level_triggered(id);
        }
        self.settle();
        Ok(())
    }

    /// `SetNotifyInterface`: the last registrant wins; `None` clears.
    /// Registering after the event still notifies (level-triggered) \[SETNOTIFYIF\] \[CB\].
    pub fn set_notify_interface(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        callback: Option<CallbackId>,
    ) -> Result<()> {
        let user = caller.user.clone();
        self.set_property(now, caller, id, |job| {
            job.notify_interface = callback.map(|callback| Registration { callback, user });
            Ok(())
        })?;
        if callback.is_some() {
            self.rearm_level_triggered(id);
        }
        self.settle();
        Ok(())
    }

    /// `IBackgroundCopyJob2::SetNotifyCmdLine` \[CMDLINE\]: both `None`
    /// removes it; program `None` with parameters → `E_INVALIDARG`; program
    /// over MAX_PATH or parameters over 4,000 characters →
    /// `BG_E_STRING_TOO_LONG`.
    pub fn set_notify_cmd_line(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        program: Option<&str>,
        parameters: Option<&str>,
    ) -> Result<()> {
        let user = caller.user.clone();
        self.set_property(now, caller, id, |job| {
            job.notify_cmd_line = match (program, parameters) {
                (None, None) => None,
                (None, Some(_)) => return Err(Error::new(Hresult::E_INVALIDARG)),
                (Some(p), params) => {
                    if p.chars().count() > MAX_PATH
                        || params.is_some_and(|s| s.chars().count() > MAX_CMD_PARAMS)
                    {
                        return Err(Error::new(Hresult::BG_E_STRING_TOO_LONG));
                    }
                    if p.is_empty() {
                        return Err(Error::new(Hresult::E_INVALIDARG));
                    }
                    Some(CmdLine {
                        program: p.to_owned(),
                        parameters: params.map(str::to_owned),
                        user,
                    })
                }
            };
            Ok(())
        })?;
        if program.is_some() {
            self.rearm_level_triggered(id);
        }
        self.settle();
        Ok(())
    }

    /// `SetMinimumRetryDelay`: values under 5 s are raised to 5 s \[SETRETRY\].
    pub fn set_minimum_retry_delay(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        seconds: u32,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            job.minimum_retry_delay = Duration::from_secs(seconds.into()).max(MIN_RETRY_FLOOR);
            Ok(())
        })
    }

    /// `SetNoProgressTimeout`: 0 makes every error fatal (T26) \[SETNOPROG\].
    pub fn set_no_progress_timeout(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        seconds: u32,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            job.no_progress_timeout = Duration::from_secs(seconds.into());
            Ok(())
        })
    }

    /// `IBackgroundCopyJob4::SetMaximumDownloadTime` \[SETMAXDL\]; 0 removes the limit.
    pub fn set_maximum_download_time(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        seconds: u32,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            job.maximum_download_time = Duration::from_secs(seconds.into());
            Ok(())
        })
    }

    /// `SetDisplayName`: over 256 characters → `E_INVALIDARG` \[CREATEJOB\].
    pub fn set_display_name(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        name: &str,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            if name.chars().count() > MAX_DISPLAY_NAME {
                return Err(Error::new(Hresult::E_INVALIDARG));
            }
            job.display_name = name.to_owned();
            Ok(())
        })
    }

    /// `SetDescription`: over 1,024 characters → `BG_E_STRING_TOO_LONG` \[WINE-JOB\].
    pub fn set_description(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        text: &str,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            if text.chars().count() > MAX_DESCRIPTION {
                return Err(Error::new(Hresult::BG_E_STRING_TOO_LONG));
            }
            job.description = text.to_owned();
            Ok(())
        })
    }

    /// `IBackgroundCopyJob2::SetReplyFileName` \[REPLYFILE\]: upload-reply only
    /// (`E_NOTIMPL`); `BG_E_INVALID_STATE` once the reply has begun.
    pub fn set_reply_file_name(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        name: &str,
    ) -> Result<()> {
        self.set_property(now, caller, id, |job| {
            let reply = job.reply.as_mut().ok_or(Error::new(Hresult::E_NOTIMPL))?;
            if reply.bytes_total != BG_SIZE_UNKNOWN {
                return Err(Error::new(Hresult::BG_E_INVALID_STATE));
            }
            validate_local(name)?;
            reply.file_name = Some(name.to_owned());
            Ok(())
        })
    }

    /// `TakeOwnership` (T33) \[TAKEOWN\]: admin only (`E_ACCESSDENIED`); the
    /// command line is removed; the job runs only while the new owner is
    /// logged on; a registered callback keeps running as its registrant.
    pub fn take_ownership(&mut self, now: Time, caller: &Caller, id: JobId) -> Result<()> {
        self.advance(now);
        self.sched.dirty = true;
        if !caller.admin {
            self.job_for_change(caller, id)?;
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        self.job_for_change(caller, id)?;
        let job = self
            .jobs
            .get_mut(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        job.owner = caller.user.clone();
        job.notify_cmd_line = None;
        let st = job.state;
        self.emit_transition(id, Rule::T33, st, st, None);
        self.touch(id, true);
        // The new owner may be logged off: the scheduler re-evaluates.
        if st.is_active() && !self.is_logged_on(&caller.user) {
            self.fire(id, Rule::T19, None);
        }
        self.settle();
        Ok(())
    }

    /// `IBackgroundCopyFile3::SetValidationState` (T32) \[JOBXFER\]
    /// \[FILEXFER\]: `false` on a transferred download file puts the job in
    /// ERROR with `BG_E_VALIDATION_FAILED` (content from the origin server).
    pub fn set_validation_state(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        file: usize,
        valid: bool,
    ) -> Result<()> {
        self.advance(now);
        let job = self.job_for_change(caller, id)?;
        if job.job_type.is_upload() {
            return Err(Error::new(Hresult::E_NOTIMPL));
        }
        let f = job
            .files
            .get(file)
            .ok_or(Error::new(Hresult::E_INVALIDARG))?;
        if !f.transferred || !Rule::T32.fires_from(job.state) {
            return Err(Error::new(Hresult::BG_E_INVALID_STATE));
        }
        if !valid {
            let job = self
                .jobs
                .get_mut(&id)
                .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
            let f = &mut job.files[file];
            f.transferred = false;
            f.bytes_transferred = 0;
            job.current_file = job.current_file.min(file);
            job.error_count += 1;
            let err = ErrorInfo {
                context: ErrorContext::RemoteFile,
                code: Hresult::BG_E_VALIDATION_FAILED,
                file: Some(FileRef::File(file)),
                protocol: Some("http".into()),
            };
            self.fire(id, Rule::T32, Some(err));
            // Entering ERROR raises JobError and no JobModification [JOBMOD].
            self.touch_quiet(id);
        } else {
            self.touch(id, true);
        }
        self.settle();
        Ok(())
    }
}
