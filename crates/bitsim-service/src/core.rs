//! The service loop: one thread owns the simulation and takes every
//! connection's messages in the order they arrive.

use crate::Config;
use crate::clock::{Clock, WallClock};
use crate::methods::{self, Interface};
use crate::rpc::{self, Incoming, RpcError};
use crate::store::{Loaded, Store};
use crate::world::{Engine, HttpWorld};
use bitsim::engine::Delivery;
use bitsim::sim::RemoteNotification;
use bitsim::{CallbackResult, Simulation};
use bitsim_model::{Call, CallbackId, Caller, FileRef, Hresult, JobId, NotifyKind, Reply, Time};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A connection's number, in the order connections were opened.
pub(crate) type ConnId = u64;

/// What the transports hand the loop.
pub(crate) enum Inbound {
    /// A connection opened; the loop writes to it through `writer`.
    Opened(ConnId, Box<dyn Write + Send>),
    /// One line from a connection.
    Line(ConnId, String),
    /// The connection closed (EOF or an error).
    Closed(ConnId),
    /// Stop the service (a signal, [`crate::Stopper::stop`]).
    Stop,
    /// Something happened in the world outside the loop (a transfer task
    /// of the http world reported): do what is due.
    Wake,
}

struct Conn {
    writer: Box<dyn Write + Send>,
    caller: Option<Caller>,
    callback: Option<CallbackId>,
}

/// The notification the loop is waiting on.
struct Waiting {
    conn: ConnId,
    calls: Vec<(String, Hresult)>,
}

/// A notification sent in real or scaled mode, waiting for its answer
/// while the service goes on serving.
struct Flying {
    n: RemoteNotification,
    conn: ConnId,
    deadline: Instant,
    calls: Vec<(String, Hresult)>,
}

pub(crate) struct Core {
    world: Engine,
    rx: Receiver<Inbound>,
    backlog: VecDeque<Inbound>,
    conns: BTreeMap<ConnId, Conn>,
    owners: BTreeMap<CallbackId, ConnId>,
    callback_timeout: Duration,
    next_request: u64,
    waiting: Option<Waiting>,
    clock: Clock,
    /// The calendar instant of virtual time zero (unix ms), told to every
    /// client in `session.hello` ([`crate::calendar_epoch`]).
    epoch_unix_ms: u64,
    /// The wall clock's mapping (real and scaled mode).
    wall: Option<WallClock>,
    /// Notifications out in real and scaled mode, by request id.
    flying: BTreeMap<String, Flying>,
    /// A stop was asked for: the loop ends after the current message.
    stopping: bool,
    store: Option<Store>,
    /// Processes started on the state directory, this one included.
    starts: u64,
}

fn params<T: DeserializeOwned>(method: &str, p: Option<Value>) -> Result<T, RpcError> {
    let p = match p {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v,
        Some(other) => {
            return Err(RpcError::new(
                rpc::INVALID_PARAMS,
                format!("{method}: params must be an object, not {other}"),
            ));
        }
    };
    serde_json::from_value(p)
        .map_err(|e| RpcError::new(rpc::INVALID_PARAMS, format!("{method}: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    user: String,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunUntil {
    t: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunUntilIdle {
    max: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobParam {
    job: JobId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Since {
    #[serde(default)]
    since: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Network {
    up: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearFaults {
    #[serde(default)]
    kind: Option<bitsim::scenario::FaultKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    user: String,
}

fn now_json(t: Time) -> Value {
    json!({"now": t.as_millis(), "text": t.to_string()})
}

impl Core {
    pub(crate) fn new(
        config: Config,
        rx: Receiver<Inbound>,
        store: Option<Store>,
        loaded: Option<Loaded>,
        http: Option<HttpWorld>,
    ) -> Core {
        let starts = loaded.as_ref().map_or(1, |l| l.book.starts + 1);
        let world = match (http, loaded) {
            (Some(h), _) => Engine::Http(Box::new(h)),
            (None, None) => Engine::Sim(Box::new(Simulation::new(config.scenario, config.seed))),
            (None, Some(l)) => {
                // The virtual clock goes on from where it stopped; the real
                // one counts the time the process was away.
                let mut now = Time(l.book.virtual_now_ms);
                if config.clock == Clock::Real {
                    now = now.max(Time(
                        crate::store::unix_ms().saturating_sub(l.epoch_unix_ms),
                    ));
                }
                // Job GUIDs must not repeat those of an earlier process.
                let seed = config.seed ^ starts.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Engine::Sim(Box::new(Simulation::resume(
                    config.scenario,
                    seed,
                    l.manager,
                    now,
                )))
            }
        };
        let epoch_unix_ms = world.driver_epoch_unix_ms().unwrap_or_else(|| {
            let first_start = store.as_ref().map_or_else(
                || crate::store::unix_ms().saturating_sub(world.now().as_millis()),
                |s| s.epoch_unix_ms,
            );
            crate::clock::calendar_epoch(config.clock, first_start)
        });
        let wall = config.clock.rate().map(|rate| WallClock {
            start: Instant::now(),
            origin: world.now(),
            rate,
        });
        Core {
            world,
            clock: config.clock,
            epoch_unix_ms,
            wall,
            flying: BTreeMap::new(),
            stopping: false,
            store,
            starts,
            rx,
            backlog: VecDeque::new(),
            conns: BTreeMap::new(),
            owners: BTreeMap::new(),
            callback_timeout: config.callback_timeout,
            next_request: 1,
            waiting: None,
        }
    }

    /// Serves until every transport is gone or a stop is asked for, then
    /// persists the queue (with `--state`).
    pub(crate) fn run(mut self) {
        self.persist();
        while !self.stopping {
            let m = match self.backlog.pop_front() {
                Some(m) => Some(m),
                None => match self.wall {
                    None => match self.rx.recv() {
                        Ok(m) => Some(m),
                        Err(_) => break,
                    },
                    Some(_) => match self.rx.recv_timeout(self.wake_in()) {
                        Ok(m) => Some(m),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => break,
                    },
                },
            };
            // In real and scaled mode, what fell due meanwhile happens
            // first: a call acts at the present instant.
            self.catch_up();
            match m {
                Some(Inbound::Opened(c, w)) => self.open(c, w),
                Some(Inbound::Line(c, text)) => self.line(c, &text),
                Some(Inbound::Closed(c)) => self.close(c),
                Some(Inbound::Stop) => {
                    tracing::info!("stop asked for: the service stops");
                    self.stopping = true;
                }
                // What woke the loop was done by catch_up.
                Some(Inbound::Wake) | None => {}
            }
            self.persist();
        }
        self.persist();
        tracing::info!(now = %self.world.now(), "the service stopped");
    }

    /// Writes the queue to the state directory if it changed.
    fn persist(&mut self) {
        if let Some(store) = &mut self.store {
            store.save(
                self.world.manager(),
                self.world.now(),
                &self.clock.to_string(),
                self.starts,
            );
        }
    }

    /// Real and scaled mode: how long the loop may sleep before something
    /// falls due (the next event, or a notification's answer timing out).
    fn wake_in(&self) -> Duration {
        let idle = Duration::from_secs(60);
        let Some(wall) = self.wall else {
            return idle;
        };
        let now = Instant::now();
        let event = self
            .world
            .next_event()
            .map_or(idle, |t| wall.real_until(t, now));
        let answer = self
            .flying
            .values()
            .map(|f| f.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(idle);
        event.min(answer).min(idle)
    }

    /// Real and scaled mode: runs every event due by the wall clock and
    /// moves virtual time to the present; sends the notifications raised
    /// on the way without waiting for their answers; an answer overdue
    /// counts as a callback object gone.
    fn catch_up(&mut self) {
        let Some(wall) = self.wall else {
            return;
        };
        let now = Instant::now();
        let overdue: Vec<String> = self
            .flying
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in overdue {
            if let Some(f) = self.flying.remove(&id) {
                tracing::warn!(
                    conn = f.conn,
                    method = f.n.kind.method(),
                    "no answer to a notification within {:?}: the callback object counts as gone",
                    self.callback_timeout
                );
                self.drop_callback(f.n.callback);
                self.world.remote_callback_returned(&f.n, Delivery::Gone);
            }
        }
        let target = wall.virtual_at(now);
        loop {
            self.deliver();
            if !self.world.step(target) {
                break;
            }
        }
        self.world.run_until(target);
        self.deliver();
    }

    fn open(&mut self, c: ConnId, writer: Box<dyn Write + Send>) {
        tracing::debug!(conn = c, "connection opened");
        self.conns.insert(
            c,
            Conn {
                writer,
                caller: None,
                callback: None,
            },
        );
    }

    /// The connection is gone: its callback object is a dead COM object
    /// from now on ([`Delivery::Gone`]).
    fn close(&mut self, c: ConnId) {
        if let Some(conn) = self.conns.remove(&c) {
            tracing::debug!(conn = c, "connection closed");
            if let Some(cb) = conn.callback {
                self.drop_callback(cb);
            }
        }
        // Real and scaled mode: its notifications out will never be answered.
        let gone: Vec<String> = self
            .flying
            .iter()
            .filter(|(_, f)| f.conn == c)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(f) = self.flying.remove(&id) {
                self.world.remote_callback_returned(&f.n, Delivery::Gone);
            }
        }
        self.deliver();
    }

    fn drop_callback(&mut self, cb: CallbackId) {
        self.world.remove_callback(cb);
        if let Some(c) = self.owners.remove(&cb)
            && let Some(conn) = self.conns.get_mut(&c)
        {
            conn.callback = None;
        }
    }

    fn send(&mut self, c: ConnId, line: &str) {
        if let Some(conn) = self.conns.get_mut(&c) {
            // One write per message: the TCP writer is unbuffered with
            // TCP_NODELAY, so a separate "\n" would be a second packet.
            let mut bytes = Vec::with_capacity(line.len() + 1);
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            let r = conn
                .writer
                .write_all(&bytes)
                .and_then(|()| conn.writer.flush());
            if let Err(e) = r {
                tracing::warn!(conn = c, "cannot write to the connection: {e}");
            }
        }
    }

    fn line(&mut self, c: ConnId, text: &str) {
        let parsed = rpc::parse(text);
        self.message(c, parsed);
        // Notifications the call raised go out after its answer.
        self.deliver();
    }

    fn message(&mut self, c: ConnId, parsed: Result<Incoming, (Value, RpcError)>) {
        match parsed {
            Err((id, e)) => {
                tracing::debug!(conn = c, "bad message: {}", e.message);
                self.send(c, &rpc::response(id, Err(e)));
            }
            Ok(Incoming::Response { id, result }) => {
                let key = id.as_str().unwrap_or_default().to_owned();
                match self.flying.get(&key) {
                    Some(f) if f.conn == c => {
                        let f = self.flying.remove(&key).expect("looked up");
                        let d = Delivery::Answered {
                            result: CallbackResult::fail(answer_hr(&result)),
                            calls: f.calls,
                        };
                        self.world.remote_callback_returned(&f.n, d);
                    }
                    _ => tracing::warn!(
                        conn = c,
                        %id,
                        "an answer to no outstanding request (late?)"
                    ),
                }
            }
            Ok(Incoming::Request { id, method, params }) => {
                let r = self.dispatch(c, &method, params);
                if let Some(id) = id {
                    self.send(c, &rpc::response(id, r));
                }
            }
        }
    }

    fn dispatch(&mut self, c: ConnId, method: &str, p: Option<Value>) -> Result<Value, RpcError> {
        let Some(conn) = self.conns.get_mut(&c) else {
            return Err(RpcError::new(rpc::NO_SESSION, "the connection is closed"));
        };
        if method == "session.hello" {
            let h: Hello = params(method, p)?;
            if let Some(old) = &conn.caller {
                return Err(RpcError::new(
                    rpc::SESSION_EXISTS,
                    format!(
                        "session.hello was already called on this connection (as {:?})",
                        old.user.0
                    ),
                ));
            }
            if h.user.is_empty() {
                return Err(RpcError::new(
                    rpc::INVALID_PARAMS,
                    "session.hello: \"user\" must not be empty",
                ));
            }
            conn.caller = Some(Caller {
                user: bitsim_model::UserId::new(h.user.clone()),
                admin: h.admin,
            });
            return Ok(json!({"user": h.user, "admin": h.admin, "connection": c,
                             "now": self.world.now().as_millis(),
                             "epoch_unix_ms": self.epoch_unix_ms}));
        }
        let Some(caller) = conn.caller.clone() else {
            return Err(RpcError::new(
                rpc::NO_SESSION,
                format!("{method}: call session.hello {{user, admin}} first"),
            ));
        };
        match method {
            "rpc.discover" => {
                let Empty {} = params(method, p)?;
                Ok(crate::discover::openrpc())
            }
            "clock.now" => {
                let Empty {} = params(method, p)?;
                Ok(now_json(self.world.now()))
            }
            "clock.advance" | "clock.run_until" | "clock.run_until_idle" => {
                if !self.clock.is_virtual() {
                    return Err(RpcError::new(
                        rpc::CLOCK_NOT_VIRTUAL,
                        format!(
                            "{method}: the clock is {} (--clock {}): virtual time follows the wall clock and no client can move it; only --clock virtual takes clock.advance, clock.run_until and clock.run_until_idle",
                            if self.clock == Clock::Real {
                                "real"
                            } else {
                                "scaled"
                            },
                            self.clock
                        ),
                    ));
                }
                if let Some(w) = &self.waiting
                    && w.conn == c
                {
                    return Err(RpcError::new(
                        rpc::NOT_NOW,
                        format!(
                            "{method}: virtual time is waiting for this connection's answer to a notification; answer it first"
                        ),
                    ));
                }
                self.clock(method, p)
            }
            "inspect.jobs" => {
                let Empty {} = params(method, p)?;
                let jobs: Vec<Value> = self
                    .world
                    .manager()
                    .all_jobs()
                    .map(|j| {
                        json!({"job": j.id, "owner": j.owner, "display_name": j.display_name,
                               "type": j.job_type, "state": j.state})
                    })
                    .collect();
                Ok(json!({"jobs": jobs}))
            }
            "inspect.job" => {
                let JobParam { job } = params(method, p)?;
                let m = self.world.manager();
                let Some(j) = m.job(job) else {
                    return Err(RpcError::new(
                        rpc::INVALID_PARAMS,
                        format!("inspect.job: no job {job} in the queue"),
                    ));
                };
                let mut v = serde_json::to_value(j).unwrap_or(Value::Null);
                let outstanding: Vec<Value> = m
                    .outstanding_of(job)
                    .into_iter()
                    .map(|o| {
                        json!({"kind": o.kind.method(), "since": o.since.as_millis(),
                               "since_text": o.since.to_string(), "attempt": o.attempt,
                               "user": o.user, "via_cmd_line": o.via_cmd_line})
                    })
                    .collect();
                v["outstanding"] = json!(outstanding);
                v["next_timer"] = match m.next_deadline(job) {
                    Some((at, why)) => json!({"at": at.as_millis(), "at_text": at.to_string(),
                                             "why": why, "what": why.why(), "in_ms": at.as_millis().saturating_sub(self.world.now().as_millis())}),
                    None => Value::Null,
                };
                Ok(v)
            }
            "inspect.trace" => {
                let Since { since } = params(method, p)?;
                let (entries, next) = self.world.trace(since);
                Ok(json!({"entries": entries, "next": next}))
            }
            "world.network" => {
                let Network { up } = params(method, p)?;
                self.world
                    .simulation()
                    .map_err(|e| not_here(method, e))?
                    .set_network(up);
                Ok(now_json(self.world.now()))
            }
            "world.logon" | "world.logoff" => {
                let User { user } = params(method, p)?;
                self.world.set_logged_on(&user, method == "world.logon");
                Ok(now_json(self.world.now()))
            }
            "world.fault" => {
                let sim = self.world.simulation().map_err(|e| not_here(method, e))?;
                let fault: bitsim::scenario::FaultSpec = params(method, p)?;
                sim.add_fault(fault)
                    .map_err(|e| RpcError::new(rpc::INVALID_PARAMS, format!("{method}: {e}")))?;
                Ok(now_json(self.world.now()))
            }
            "world.clear_faults" => {
                let ClearFaults { kind } = params(method, p)?;
                let cleared = self
                    .world
                    .simulation()
                    .map_err(|e| not_here(method, e))?
                    .clear_faults(kind);
                let mut v = now_json(self.world.now());
                v["cleared"] = json!(cleared);
                Ok(v)
            }
            "shutdown" => {
                let Empty {} = params(method, p)?;
                if !caller.admin {
                    return Err(RpcError::new(
                        rpc::ACCESS_DENIED,
                        "shutdown: only an administrator may stop the service (session.hello with admin: true), as only an administrator may stop the BITS service",
                    ));
                }
                tracing::info!(conn = c, "shutdown called: the service stops");
                self.stopping = true;
                let mut v = now_json(self.world.now());
                v["stopping"] = json!(true);
                Ok(v)
            }
            "world.restart_service" => {
                let Empty {} = params(method, p)?;
                self.world
                    .restart_service()
                    .map_err(|e| not_here(method, e))?;
                Ok(now_json(self.world.now()))
            }
            _ => match methods::call_of(method) {
                Some(call) => self.bits(c, caller, method, call, p),
                None => Err(RpcError::new(
                    rpc::METHOD_NOT_FOUND,
                    format!(
                        "unknown method {method:?} (the methods are listed in the crate docs of bitsim-service)"
                    ),
                )),
            },
        }
    }

    fn callback_of(&mut self, c: ConnId) -> CallbackId {
        if let Some(cb) = self.conns.get(&c).and_then(|x| x.callback) {
            return cb;
        }
        let cb = self.world.add_remote_callback();
        self.owners.insert(cb, c);
        if let Some(conn) = self.conns.get_mut(&c) {
            conn.callback = Some(cb);
        }
        cb
    }

    fn bits(
        &mut self,
        c: ConnId,
        caller: Caller,
        method: &str,
        call: &str,
        p: Option<Value>,
    ) -> Result<Value, RpcError> {
        let parsed = methods::parse_call(method, call, p)?;
        let mut call = parsed.call;
        let job = match &call {
            Call::CreateJob { .. } => self.world.new_job_id(),
            _ => parsed.job.unwrap_or(JobId(uuid::Uuid::nil())),
        };
        match parsed.interface {
            Interface::Register => {
                call = Call::SetNotifyInterface {
                    callback: Some(self.callback_of(c)),
                }
            }
            Interface::Clear => call = Call::SetNotifyInterface { callback: None },
            Interface::None => {}
        }
        let r = self
            .world
            .with_manager(|m, now| call.apply(m, now, &caller, job));
        if let Ok(Reply::Job(id)) = &r
            && matches!(call, Call::CreateJob { .. })
        {
            self.world.name_job(*id, &id.to_string());
        }
        let hr = Reply::hresult_of(&r);
        if let Some(w) = &mut self.waiting
            && w.conn == c
        {
            w.calls.push((call.method().to_owned(), hr));
        } else if let Some(f) = self.flying.values_mut().find(|f| f.conn == c) {
            // Real and scaled mode: a call from a handler belongs to the
            // connection's oldest notification out.
            f.calls.push((call.method().to_owned(), hr));
        }
        Ok(methods::result(&r))
    }

    fn clock(&mut self, method: &str, p: Option<Value>) -> Result<Value, RpcError> {
        let now = self.world.now();
        let (limit, idle_mode) = match method {
            "clock.advance" => {
                let Advance { ms } = params(method, p)?;
                (now.saturating_add(Duration::from_millis(ms)), false)
            }
            "clock.run_until" => {
                let RunUntil { t } = params(method, p)?;
                if t < now.as_millis() {
                    return Err(RpcError::new(
                        rpc::INVALID_PARAMS,
                        format!(
                            "clock.run_until: t = {t} ms is before now ({} ms)",
                            now.as_millis()
                        ),
                    ));
                }
                (Time::from_millis(t), false)
            }
            _ => {
                let RunUntilIdle { max } = params(method, p)?;
                (now.saturating_add(Duration::from_millis(max)), true)
            }
        };
        loop {
            self.deliver();
            if self.stopping || !self.world.step(limit) {
                break;
            }
        }
        self.deliver();
        if self.stopping {
            // A stop came while a handler ran: time stays where it is.
            return Ok(now_json(self.world.now()));
        }
        let idle = idle_mode && self.world.next_event().is_none();
        if !idle {
            self.world.run_until(limit);
        }
        let mut v = now_json(self.world.now());
        if idle_mode {
            v["idle"] = json!(idle);
        }
        Ok(v)
    }

    /// Sends every pending notification to its object and waits for each
    /// answer before going on: virtual time does not move meanwhile.
    fn deliver(&mut self) {
        if self.waiting.is_some() {
            // The loop waiting for an answer delivers the rest after it.
            return;
        }
        if self.wall.is_some() {
            self.send_notifications();
            return;
        }
        while !self.stopping
            && let Some(n) = self.world.poll_remote_notification()
        {
            let d = self.call_remote(&n);
            self.world.remote_callback_returned(&n, d);
        }
    }

    /// Real and scaled mode: sends every pending notification and goes on
    /// serving; the answers come back through [`Core::message`].
    fn send_notifications(&mut self) {
        while let Some(n) = self.world.poll_remote_notification() {
            match self.send_notification(&n) {
                Some((id, conn)) => {
                    let deadline = Instant::now() + self.callback_timeout;
                    self.flying.insert(
                        id,
                        Flying {
                            n,
                            conn,
                            deadline,
                            calls: Vec::new(),
                        },
                    );
                }
                None => self.world.remote_callback_returned(&n, Delivery::Gone),
            }
        }
    }

    /// Sends `n` to its object's connection: the request id and the
    /// connection, or `None` if the object is gone.
    fn send_notification(&mut self, n: &RemoteNotification) -> Option<(String, ConnId)> {
        let &c = self.owners.get(&n.callback)?;
        let id = format!("bitsim-{}", self.next_request);
        self.next_request += 1;
        let mut params = json!({"job": n.job, "callback": n.callback.0, "user": n.user});
        match n.kind {
            NotifyKind::JobError => {
                if let Some(e) = self
                    .world
                    .manager()
                    .job(n.job)
                    .and_then(|j| j.get_error().ok())
                {
                    params["error"] = methods::error(e);
                }
            }
            NotifyKind::FileTransferred(f) => {
                params["file"] = match f {
                    FileRef::File(i) => json!(i),
                    FileRef::Reply => json!("reply"),
                };
            }
            NotifyKind::JobTransferred | NotifyKind::JobModification => {}
        }
        self.send(c, &rpc::request(&id, n.kind.method(), params));
        Some((id, c))
    }

    fn call_remote(&mut self, n: &RemoteNotification) -> Delivery {
        let Some((id, c)) = self.send_notification(n) else {
            return Delivery::Gone;
        };
        self.waiting = Some(Waiting {
            conn: c,
            calls: Vec::new(),
        });
        let deadline = Instant::now() + self.callback_timeout;
        let answer = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Inbound::Line(from, text)) if from == c => match rpc::parse(&text) {
                    Ok(Incoming::Response { id: rid, result }) if rid == json!(id) => {
                        break Some(answer_hr(&result));
                    }
                    // A call from inside the handler (a callback calling
                    // Cancel), or a stray answer.
                    other => self.message(c, other),
                },
                Ok(Inbound::Closed(from)) if from == c => {
                    tracing::info!(
                        conn = c,
                        method = n.kind.method(),
                        "the callback's client left mid-notification"
                    );
                    self.close(c);
                    break None;
                }
                Ok(Inbound::Opened(o, w)) => self.open(o, w),
                Ok(Inbound::Stop) => {
                    // The service stops: the answer will never count.
                    tracing::info!("stop asked for while a notification waits for its answer");
                    self.stopping = true;
                    break None;
                }
                Ok(other) => self.backlog.push_back(other),
                Err(RecvTimeoutError::Timeout) => {
                    tracing::warn!(
                        conn = c,
                        method = n.kind.method(),
                        "no answer to a notification within {:?}: the callback object counts as gone",
                        self.callback_timeout
                    );
                    self.drop_callback(n.callback);
                    break None;
                }
                Err(RecvTimeoutError::Disconnected) => break None,
            }
        };
        let calls = self.waiting.take().map(|w| w.calls).unwrap_or_default();
        match answer {
            Some(hr) => Delivery::Answered {
                result: CallbackResult::fail(hr),
                calls,
            },
            None => Delivery::Gone,
        }
    }
}

/// A `world.*` control the world does not take (the http world).
fn not_here(method: &str, why: &str) -> RpcError {
    RpcError::new(rpc::NOT_IN_THIS_WORLD, format!("{method}: {why}"))
}

/// The HRESULT a client's answer carries: `"S_OK"`, `"0x80004005"`, a
/// number, or `{"hresult": ...}` in any of those forms. An error object, or
/// an answer that names no HRESULT, is a failing callback: `E_FAIL`.
fn answer_hr(result: &Result<Value, RpcError>) -> Hresult {
    let v = match result {
        Ok(Value::Object(m)) => m.get("hresult").cloned().unwrap_or(Value::Null),
        Ok(v) => v.clone(),
        Err(e) => {
            tracing::warn!("a callback answered with an error ({}): E_FAIL", e.message);
            return Hresult::E_FAIL;
        }
    };
    let v = match v {
        Value::Object(m) => m
            .get("value")
            .or(m.get("name"))
            .cloned()
            .unwrap_or(Value::Null),
        v => v,
    };
    serde_json::from_value::<Hresult>(v.clone()).unwrap_or_else(|_| {
        tracing::warn!("a callback answered {v}, which names no HRESULT: E_FAIL");
        Hresult::E_FAIL
    })
}
