//! The service loop: one thread owns the simulation and takes every
//! connection's messages in the order they arrive.

use crate::Config;
use crate::methods::{self, Interface};
use crate::rpc::{self, Incoming, RpcError};
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

pub(crate) struct Core {
    sim: Simulation,
    rx: Receiver<Inbound>,
    backlog: VecDeque<Inbound>,
    conns: BTreeMap<ConnId, Conn>,
    owners: BTreeMap<CallbackId, ConnId>,
    callback_timeout: Duration,
    next_request: u64,
    waiting: Option<Waiting>,
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
struct User {
    user: String,
}

fn now_json(t: Time) -> Value {
    json!({"now": t.as_millis(), "text": t.to_string()})
}

impl Core {
    pub(crate) fn new(config: Config, rx: Receiver<Inbound>) -> Core {
        Core {
            sim: Simulation::new(config.scenario, config.seed),
            rx,
            backlog: VecDeque::new(),
            conns: BTreeMap::new(),
            owners: BTreeMap::new(),
            callback_timeout: config.callback_timeout,
            next_request: 1,
            waiting: None,
        }
    }

    /// Serves until every transport is gone.
    pub(crate) fn run(mut self) {
        loop {
            let m = match self.backlog.pop_front() {
                Some(m) => m,
                None => match self.rx.recv() {
                    Ok(m) => m,
                    Err(_) => return,
                },
            };
            match m {
                Inbound::Opened(c, w) => self.open(c, w),
                Inbound::Line(c, text) => self.line(c, &text),
                Inbound::Closed(c) => self.close(c),
            }
        }
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
    }

    fn drop_callback(&mut self, cb: CallbackId) {
        self.sim.remove_callback(cb);
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
            Ok(Incoming::Response { id, .. }) => {
                tracing::warn!(conn = c, %id, "an answer to no outstanding request (late?)");
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
                             "now": self.sim.now().as_millis()}));
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
                Ok(now_json(self.sim.now()))
            }
            "clock.advance" | "clock.run_until" | "clock.run_until_idle" => {
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
                    .sim
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
                match self.sim.manager().job(job) {
                    Some(j) => Ok(serde_json::to_value(j).unwrap_or(Value::Null)),
                    None => Err(RpcError::new(
                        rpc::INVALID_PARAMS,
                        format!("inspect.job: no job {job} in the queue"),
                    )),
                }
            }
            "inspect.trace" => {
                let Since { since } = params(method, p)?;
                let trace = self.sim.trace();
                let entries = trace.get(since..).unwrap_or(&[]);
                Ok(json!({"entries": entries, "next": trace.len()}))
            }
            "world.network" => {
                let Network { up } = params(method, p)?;
                self.sim.set_network(up);
                Ok(now_json(self.sim.now()))
            }
            "world.logon" | "world.logoff" => {
                let User { user } = params(method, p)?;
                self.sim.set_logged_on(&user, method == "world.logon");
                Ok(now_json(self.sim.now()))
            }
            "world.fault" => {
                let fault: bitsim::scenario::FaultSpec = params(method, p)?;
                self.sim
                    .add_fault(fault)
                    .map_err(|e| RpcError::new(rpc::INVALID_PARAMS, format!("{method}: {e}")))?;
                Ok(now_json(self.sim.now()))
            }
            "world.restart_service" => {
                let Empty {} = params(method, p)?;
                self.sim.restart_service();
                Ok(now_json(self.sim.now()))
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
        let cb = self.sim.add_remote_callback();
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
            Call::CreateJob { .. } => self.sim.new_job_id(),
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
            .sim
            .with_manager(|m, now| call.apply(m, now, &caller, job));
        if let Ok(Reply::Job(id)) = &r
            && matches!(call, Call::CreateJob { .. })
        {
            self.sim.name_job(*id, &id.to_string());
        }
        if let Some(w) = &mut self.waiting
            && w.conn == c
        {
            let hr = match &r {
                Ok(reply) => reply.hresult(),
                Err(e) => e.code,
            };
            w.calls.push((call.method().to_owned(), hr));
        }
        Ok(methods::result(&r))
    }

    fn clock(&mut self, method: &str, p: Option<Value>) -> Result<Value, RpcError> {
        let now = self.sim.now();
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
            if !self.sim.step(limit) {
                break;
            }
        }
        self.deliver();
        let idle = idle_mode && self.sim.next_event().is_none();
        if !idle {
            self.sim.run_until(limit);
        }
        let mut v = now_json(self.sim.now());
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
        while let Some(n) = self.sim.poll_remote_notification() {
            let d = self.call_remote(&n);
            self.sim.remote_callback_returned(&n, d);
        }
    }

    fn call_remote(&mut self, n: &RemoteNotification) -> Delivery {
        let Some(&c) = self.owners.get(&n.callback) else {
            return Delivery::Gone;
        };
        let id = format!("bitsim-{}", self.next_request);
        self.next_request += 1;
        let mut params = json!({"job": n.job, "callback": n.callback.0, "user": n.user});
        match n.kind {
            NotifyKind::JobError => {
                if let Some(e) = self
                    .sim
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
