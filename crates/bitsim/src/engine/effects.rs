//! The one dispatch of the model's outputs to a front's effects.

use bitsim_model::{
    CallbackId, FileRef, Hresult, JobId, JobState, Manager, NotificationId, NotifyKind, Output,
    Rule, Time, TimerKind, UserId,
};

/// What a front does with the model's [`Output`]s: every method performs
/// one effect, and none decides anything BITS decides (the model did). The
/// simulator performs them on a simulated world and a virtual clock, the
/// real-time driver on real files and HTTP. A new front implements this
/// trait and feeds the world's events back through the `handle_*` methods.
pub trait Effects {
    /// A rule of the transition table fired (T16, progress, included).
    fn transition(
        &mut self,
        job: JobId,
        rule: Rule,
        from: JobState,
        to: JobState,
        code: Option<Hresult>,
    );
    /// Start (or resume at `offset`) moving `file`.
    fn start_transfer(&mut self, job: JobId, file: FileRef, offset: u64);
    /// Stop the job's transfer, if one is running (also after the transport
    /// itself reported its end: then there is nothing to do).
    fn stop_transfer(&mut self, job: JobId);
    /// Call the callback object `callback` registered by `user`; report
    /// its answer with [`Manager::handle_callback_result`].
    fn notify(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        callback: CallbackId,
        kind: NotifyKind,
    );
    /// Run the job's notification command line as `user`; report its end
    /// with [`Manager::handle_command_result`].
    fn run_command(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        program: String,
        parameters: Option<String>,
        kind: NotifyKind,
    );
    /// Delete the temporary file of `file`.
    fn delete_temp_file(&mut self, job: JobId, file: FileRef);
    /// `file` was published by Complete (its temporary file renamed).
    fn file_published(&mut self, job: JobId, file: FileRef);
    /// Send Cancel-Session for the job's upload; report the end with
    /// [`Manager::handle_upload_cancelled`].
    fn cancel_upload_session(&mut self, job: JobId);
    /// A timer was armed (for the record; [`Manager::poll_timeout`] is what
    /// schedules the wake-up).
    fn timer_armed(&mut self, job: JobId, timer: TimerKind, at: Time) {
        let _ = (job, timer, at);
    }
    /// The job left the queue: forget what the front keeps for it.
    fn job_removed(&mut self, job: JobId);
}

/// Performs one output on `fx`.
pub fn perform(fx: &mut impl Effects, o: Output) {
    match o {
        Output::Transition {
            job,
            rule,
            from,
            to,
            code,
            ..
        } => fx.transition(job, rule, from, to, code),
        Output::StartTransfer { job, file, offset } => fx.start_transfer(job, file, offset),
        Output::StopTransfer { job } => fx.stop_transfer(job),
        Output::Notify {
            id,
            job,
            user,
            callback,
            kind,
        } => fx.notify(id, job, user, callback, kind),
        Output::RunCommand {
            id,
            job,
            user,
            program,
            parameters,
            kind,
        } => fx.run_command(id, job, user, program, parameters, kind),
        Output::DeleteTempFile { job, file } => fx.delete_temp_file(job, file),
        Output::FilePublished { job, file } => fx.file_published(job, file),
        Output::CancelUploadSession { job } => fx.cancel_upload_session(job),
        Output::TimerArmed { job, timer, at } => fx.timer_armed(job, timer, at),
        Output::JobRemoved { job } => fx.job_removed(job),
    }
}

/// Drains every output of `manager` into `fx`, in order. `manager` is
/// reached through `fx` because performing an effect may call the model
/// again (a callback that calls Cancel); the outputs that call raises are
/// drained in the same loop.
pub fn drain<F: Effects>(fx: &mut F, manager: impl Fn(&mut F) -> &mut Manager) {
    while let Some(o) = manager(fx).poll_output() {
        perform(fx, o);
    }
}
