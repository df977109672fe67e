//! Group commit for `durability = "power-cut"`: one sync round covers
//! every fragment that arrived while the previous round ran.

use std::fs::File;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// A sync's outcome, sent to each waiter (`io::Error` is not `Clone`).
type Outcome = Result<(), (std::io::ErrorKind, Option<i32>, String)>;

/// Flushes fragment data to stable storage before its Ack, in rounds.
///
/// BITS allows one outstanding request per session (\[W32-UP\]: the client
/// sends the next fragment only after the Ack), so within a session every
/// fragment needs its own flush; what can be shared is the flush across
/// sessions. A fragment that finds no round running leads one; fragments
/// arriving meanwhile queue and share the next round, in which each file
/// is fdatasync'd once and the file system's journal commits once for all
/// of them (on ext4/xfs a sync that finds the journal already committed
/// costs little). With one session this is one fdatasync per fragment, as
/// before.
///
/// The leader runs its round on the async worker that handles it when the
/// runtime is multi-threaded with at least two workers (another worker
/// keeps serving; one round at a time per server bounds the blocked
/// workers to one), which saves the two thread wake-ups of a trip to the
/// blocking pool per small fragment; otherwise, and for every further
/// round, on the blocking pool.
#[derive(Debug, Default)]
pub(crate) struct GroupSync {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<(Arc<File>, oneshot::Sender<Outcome>)>,
    running: bool,
}

impl GroupSync {
    /// Returns once `file`'s data written so far is on stable storage.
    pub(crate) async fn sync(self: &Arc<Self>, file: Arc<File>) -> std::io::Result<()> {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut st = self.lock();
            st.pending.push((file, tx));
            !std::mem::replace(&mut st.running, true)
        };
        if lead {
            if worker_may_block() {
                let _ = self.round();
                let more = {
                    let mut st = self.lock();
                    st.running = !st.pending.is_empty();
                    st.running
                };
                if more {
                    self.spawn_rounds();
                }
            } else {
                self.spawn_rounds();
            }
        }
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err((_, Some(code), _))) => Err(std::io::Error::from_raw_os_error(code)),
            Ok(Err((kind, None, msg))) => Err(std::io::Error::new(kind, msg)),
            Err(_) => Err(std::io::Error::other("sync round ended without an answer")),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs rounds on the blocking pool until nothing is pending.
    fn spawn_rounds(self: &Arc<Self>) {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            loop {
                let _ = me.round();
                let mut st = me.lock();
                if st.pending.is_empty() {
                    st.running = false;
                    return;
                }
            }
        });
    }

    /// One round: every file pending now is synced once, and every waiter
    /// gets its file's outcome. Returns how many files it synced.
    fn round(&self) -> usize {
        let batch = std::mem::take(&mut self.lock().pending);
        let mut done: Vec<(Arc<File>, Outcome)> = Vec::new();
        for (file, tx) in batch {
            let outcome = match done.iter().find(|(f, _)| Arc::ptr_eq(f, &file)) {
                Some((_, o)) => o.clone(),
                None => {
                    let o = file
                        .sync_data()
                        .map_err(|e| (e.kind(), e.raw_os_error(), e.to_string()));
                    done.push((file, o.clone()));
                    o
                }
            };
            // A waiter gone (its client went away) needs no answer.
            let _ = tx.send(outcome);
        }
        tracing::trace!(files = done.len(), "sync round");
        done.len()
    }
}

/// Whether the current task may block its worker for a disk sync: only on
/// a multi-thread runtime with at least two workers, so another keeps
/// serving.
fn worker_may_block() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|rt| {
        rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
            && rt.metrics().num_workers() >= 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_answer_every_waiter_on_any_runtime() {
        for workers in [0, 1, 2] {
            let rt = if workers == 0 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .enable_time()
                    .build()
            }
            .unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let g = Arc::new(GroupSync::default());
                let files: Vec<Arc<File>> = (0..4)
                    .map(|i| Arc::new(File::create(dir.path().join(format!("{i}"))).unwrap()))
                    .collect();
                let mut tasks = Vec::new();
                for i in 0..32 {
                    let (g, f) = (g.clone(), files[i % 4].clone());
                    tasks.push(tokio::spawn(async move { g.sync(f).await }));
                }
                for t in tasks {
                    t.await.unwrap().unwrap();
                }
                // A round on the blocking pool ends just after its last
                // answer: it must end, leaving nothing behind.
                for _ in 0..500 {
                    if !g.lock().running {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                assert!(!g.lock().running, "{workers} workers: a round left running");
                assert!(g.lock().pending.is_empty());
                // And the next sync starts a round again.
                g.sync(files[0].clone()).await.unwrap();
            });
        }
    }

    #[test]
    fn one_round_syncs_each_waiting_file_once_and_answers_every_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(File::create(dir.path().join("a")).unwrap());
        let b = Arc::new(File::create(dir.path().join("b")).unwrap());
        let g = GroupSync::default();
        let mut rxs = Vec::new();
        // Four fragments arrived while a round ran: three of session a,
        // one of session b (a test can queue several of one session).
        for f in [&a, &b, &a, &a] {
            let (tx, rx) = oneshot::channel();
            g.lock().pending.push(((*f).clone(), tx));
            rxs.push(rx);
        }
        assert_eq!(g.round(), 2, "one sync per file, not per fragment");
        for mut rx in rxs {
            assert!(matches!(rx.try_recv(), Ok(Ok(()))));
        }
        assert_eq!(g.round(), 0, "nothing left");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_sync_reaches_its_waiter_with_the_os_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            // fdatasync of a pipe fails with EINVAL.
            let (r, _w) = std::io::pipe().unwrap();
            let f: File = std::os::fd::OwnedFd::from(r).into();
            let g = Arc::new(GroupSync::default());
            let e = g.sync(Arc::new(f)).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
        });
    }
}
