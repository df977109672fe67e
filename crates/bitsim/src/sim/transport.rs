//! The simulated transport: connecting, moving bytes, the server
//! application of upload-reply jobs.

use super::*;

impl Simulation {
    pub(super) fn url_of(&self, job: JobId) -> Option<String> {
        let t = self.transfers.get(&job)?;
        let j = self.mgr.job(job)?;
        match t.file {
            FileRef::File(i) => j.files.get(i).map(|f| f.remote_name.clone()),
            FileRef::Reply => j.files.first().map(|f| f.remote_name.clone()),
        }
    }

    pub(super) fn server_for(&self, url: &str) -> Option<(&ServerSpec, String)> {
        let rest = url.split_once("://").map(|(_, r)| r)?;
        let (host, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
        self.scenario
            .servers
            .iter()
            .find(|s| s.host.eq_ignore_ascii_case(host))
            .map(|s| (s, path))
    }

    pub(super) fn fail_transfer(&mut self, job: JobId, code: Hresult, context: ErrorContext) {
        let file = self.transfers.remove(&job).map(|t| t.file);
        if let Some(j) = self.mgr.job(job)
            && (j.state == JobState::Error || j.state.is_final())
        {
            return;
        }
        self.reply_total_snapshot(job);
        self.mgr
            .handle_transfer_error(self.now, job, TransferError::new(code, context, file));
    }

    pub(super) fn reply_total_snapshot(&mut self, job: JobId) {
        if let (Some(name), Some(j)) = (self.names.get(&job), self.mgr.job(job))
            && let Some(r) = &j.reply
        {
            let v = (r.bytes_total != BG_SIZE_UNKNOWN).then_some(r.bytes_total);
            self.observed
                .reply_total_at_error
                .insert(name.to_string(), v);
        }
    }

    pub(super) fn start_transfer(&mut self, job: JobId, file: FileRef, offset: u64) {
        self.generation += 1;
        let generation = self.generation;
        let Some(j) = self.mgr.job(job) else { return };
        let url = match file {
            FileRef::File(i) => j
                .files
                .get(i)
                .map(|f| f.remote_name.clone())
                .unwrap_or_default(),
            FileRef::Reply => j
                .files
                .first()
                .map(|f| f.remote_name.clone())
                .unwrap_or_default(),
        };
        let (bandwidth, latency) = self
            .server_for(&url)
            .map(|(s, _)| (s.bandwidth.0.max(1), s.latency.0))
            .unwrap_or((1_000_000, Duration::from_millis(50)));
        if let (FileRef::File(_), JobType::Download) = (file, j.job_type) {
            if let Some(name) = self.names.get(&job).cloned() {
                *self
                    .observed
                    .temps_created
                    .entry(name.to_string())
                    .or_default() += 1;
            }
            if let FileRef::File(i) = file {
                let local = j.files[i].local_name.clone();
                self.local.create_temp(&local, job, file);
            }
        }
        self.transfers.insert(
            job,
            Transfer {
                generation,
                file,
                offset,
                size: 0,
                bandwidth,
                connected: false,
            },
        );
        if file == FileRef::Reply {
            let delay = self
                .server_for(&url)
                .map_or(Duration::ZERO, |(s, _)| s.app_delay.0);
            self.schedule(
                self.now.saturating_add(latency + delay),
                Event::AppDone { job, generation },
            );
        } else {
            self.schedule(
                self.now.saturating_add(latency),
                Event::Connect { job, generation },
            );
        }
    }

    pub(super) fn current(&self, job: JobId, generation: u64) -> Option<Transfer> {
        self.transfers
            .get(&job)
            .filter(|t| t.generation == generation)
            .cloned()
    }

    pub(super) fn connect(&mut self, job: JobId, generation: u64) {
        let Some(t) = self.current(job, generation) else {
            return;
        };
        let Some(j) = self.mgr.job(job) else { return };
        let FileRef::File(i) = t.file else { return };
        let url = j.files[i].remote_name.clone();
        let upload = j.job_type.is_upload();
        let upload_size = self
            .specs
            .get(&job)
            .and_then(|&n| self.scenario.jobs[n].files.get(i))
            .and_then(|f| f.size)
            .map_or(0, |s| s.0);
        let checks = [
            (
                FaultKind::NameResolution,
                Hresult::WININET_E_NAME_NOT_RESOLVED,
                ErrorContext::GeneralTransport,
            ),
            (
                FaultKind::Timeout,
                Hresult::WININET_E_TIMEOUT,
                ErrorContext::GeneralTransport,
            ),
            (
                FaultKind::CertificateInvalid,
                Hresult::WINHTTP_E_SECURE_INVALID_CA,
                ErrorContext::GeneralTransport,
            ),
            (
                FaultKind::ConnectionReset,
                Hresult::WININET_E_CONNECTION_RESET,
                ErrorContext::GeneralTransport,
            ),
            (
                FaultKind::DiskFull,
                Hresult::E_DISK_FULL,
                ErrorContext::LocalFile,
            ),
        ];
        for (kind, code, ctx) in checks {
            if kind == FaultKind::DiskFull && upload {
                continue;
            }
            if self.fault_hits(kind, &url).is_some() {
                return self.fail_transfer(job, code, ctx);
            }
        }
        if let Some(f) = self.fault_hits(FaultKind::HttpStatus, &url) {
            return self.fail_transfer(
                job,
                Hresult::http(f.status.unwrap_or(500)),
                ErrorContext::RemoteFile,
            );
        }
        let Some((server, path)) = self.server_for(&url) else {
            // A host the world does not have answers no request: uploads
            // fail as downloads do (the real-time driver meets a host that
            // cannot be reached the same way).
            return self.fail_transfer(
                job,
                Hresult::WININET_E_NAME_NOT_RESOLVED,
                ErrorContext::GeneralTransport,
            );
        };
        let size = if upload {
            upload_size
        } else {
            match server.files.get(&path) {
                Some(s) => s.0,
                None => {
                    return self.fail_transfer(job, Hresult::http(404), ErrorContext::RemoteFile);
                }
            }
        };
        if !upload && t.offset > 0 && self.fault_hits(FaultKind::NoRangeSupport, &url).is_some() {
            // A 200 to a ranged request [HTTPREQ] [RETVALS].
            return self.fail_transfer(
                job,
                Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT,
                ErrorContext::RemoteFile,
            );
        }
        self.mgr.handle_connected(self.now, job);
        self.mgr.handle_file_size(self.now, job, i, size);
        if let Some(tr) = self.transfers.get_mut(&job) {
            tr.size = size;
            tr.connected = true;
        }
        self.next_chunk(job, generation);
    }

    pub(super) fn next_chunk(&mut self, job: JobId, generation: u64) {
        let Some(t) = self.current(job, generation) else {
            return;
        };
        let remaining = t.size.saturating_sub(t.offset);
        // At most ~8 chunks per file, each at least one second of bandwidth.
        let chunk = remaining.min(t.bandwidth.max(t.size.div_ceil(8)).max(1));
        let ms = (chunk.saturating_mul(1000) / t.bandwidth).max(1);
        self.schedule(
            self.now.saturating_add(Duration::from_millis(ms)),
            Event::Chunk { job, generation },
        );
    }

    pub(super) fn chunk(&mut self, job: JobId, generation: u64) {
        let Some(t) = self.current(job, generation) else {
            return;
        };
        let Some(url) = self.url_of(job) else { return };
        let upload = self.mgr.job(job).is_some_and(|j| j.job_type.is_upload());
        if self.fault_hits(FaultKind::ConnectionReset, &url).is_some() {
            return self.fail_transfer(
                job,
                Hresult::WININET_E_CONNECTION_RESET,
                ErrorContext::GeneralTransport,
            );
        }
        if upload && self.fault_hits(FaultKind::LocalFileChanged, &url).is_some() {
            return self.fail_transfer(
                job,
                Hresult::BG_E_LOCAL_FILE_CHANGED,
                ErrorContext::LocalFile,
            );
        }
        if t.file == FileRef::Reply {
            if let Some(f) = self.fault_hits(FaultKind::ReplyFailure, &url) {
                let status = f.status.unwrap_or(500);
                return self.fail_transfer(job, Hresult::http(status), ErrorContext::RemoteFile);
            }
        } else if !upload
            && let Some(p) = self
                .modified
                .iter()
                .find(|p| url.contains(p.as_str()))
                .cloned()
        {
            // Last-Modified changed: the file restarts from 0 [FILEPROG] [SETREMOTE].
            self.modified.remove(&p);
            if let FileRef::File(i) = t.file {
                self.mgr.handle_file_reset(self.now, job, i);
                self.mgr.handle_file_size(self.now, job, i, t.size);
            }
            if let Some(tr) = self.transfers.get_mut(&job) {
                tr.offset = 0;
            }
            self.effect(Some(job), || {
                "remote file changed: restart from byte 0".into()
            });
            return self.next_chunk(job, generation);
        }
        let remaining = t.size.saturating_sub(t.offset);
        let chunk = remaining.min(t.bandwidth.max(t.size.div_ceil(8)).max(1));
        let offset = t.offset + chunk;
        if let Some(tr) = self.transfers.get_mut(&job) {
            tr.offset = offset;
        }
        match t.file {
            FileRef::File(i) => {
                if chunk > 0 {
                    self.mgr.handle_progress(self.now, job, i, offset);
                }
                if offset >= t.size {
                    self.transfers.remove(&job);
                    if upload {
                        self.server_files.insert(url.clone());
                    }
                    self.mgr.handle_file_done(self.now, job, i);
                } else {
                    self.next_chunk(job, generation);
                }
            }
            FileRef::Reply => {
                self.mgr
                    .handle_reply_progress(self.now, job, offset, t.size);
                if offset >= t.size {
                    self.transfers.remove(&job);
                    let data = vec![0x5A; t.size.min(2 << 20) as usize];
                    self.mgr.handle_reply_done(self.now, job, Some(data));
                } else {
                    self.next_chunk(job, generation);
                }
            }
        }
    }

    /// The upload-reply server application answered: fail with
    /// REMOTE_APPLICATION, or start sending the reply \[SRVAPPERR\].
    pub(super) fn app_done(&mut self, job: JobId, generation: u64) {
        if self.current(job, generation).is_none() {
            return;
        }
        let Some(url) = self.url_of(job) else { return };
        if let Some(e) = self.mgr.server_application_refusal(job) {
            // The model's rule (decision A28): no new post after a 403.
            self.effect(Some(job), || {
                "upload not posted again: the server application answered 403".into()
            });
            return self.fail_transfer(job, e.code, e.context);
        }
        if let Some(f) = self.fault_hits(FaultKind::ServerAppFailure, &url) {
            let status = f.status.unwrap_or(500);
            return self.fail_transfer(job, Hresult::http(status), ErrorContext::RemoteApplication);
        }
        let size = self.server_for(&url).map_or(0, |(s, _)| s.reply_size.0);
        self.mgr.handle_connected(self.now, job);
        if size == 0 {
            self.transfers.remove(&job);
            self.mgr.handle_reply_progress(self.now, job, 0, 0);
            self.mgr.handle_reply_done(self.now, job, None);
            return;
        }
        self.mgr.handle_reply_progress(self.now, job, 0, size);
        if let Some(tr) = self.transfers.get_mut(&job) {
            tr.size = size;
            tr.connected = true;
        }
        self.next_chunk(job, generation);
    }
}
