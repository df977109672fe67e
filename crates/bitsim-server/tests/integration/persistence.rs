//! Sessions survive restarts, expire, are capped per client, and scale.

use crate::client::*;

#[tokio::test]
async fn sessions_survive_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let body = data(300_000, 5);
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let id = create(a, "/r.bin").await;
    fragment(a, "/r.bin", &id, 0, 300_000, &body[..120_000]).await;
    s.shutdown().await.unwrap();

    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    // Ping, then a probe fragment at 0 learns the offset (full duplicate).
    let r = fragment(a, "/r.bin", &id, 0, 300_000, &body[..1]).await;
    assert_eq!((r.status, r.received()), (200, 120_000));
    let r = fragment(a, "/r.bin", &id, 120_000, 300_000, &body[120_000..]).await;
    assert_eq!(r.received(), 300_000);
    assert_eq!(close(a, "/r.bin", &id).await.status, 200);
    assert_eq!(std::fs::read(d.path().join("r.bin")).unwrap(), body);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_expire() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.session_timeout_secs = 0;
    // Only the explicit sweep below may expire the session: on a loaded
    // machine the background sweeper could otherwise get there first.
    c.sweep_interval_secs = 3600;
    let s = start(c).await;
    let a = s.local_addr();
    let id = create(a, "/e").await;
    // The handler may still hold the session for a moment after the Ack is
    // on the wire (a busy session is never swept): retry for a while.
    let mut swept = 0;
    for _ in 0..250 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        swept += s.sweep_expired().await;
        if swept > 0 {
            break;
        }
    }
    assert_eq!(swept, 1);
    let r = fragment(a, "/e", &id, 0, 1, b"x").await;
    assert_eq!((r.status, r.error_code()), (500, Some("0x8020001F")));
    // Expired lazily too, without a sweep.
    let id = create(a, "/e").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(fragment(a, "/e", &id, 0, 1, b"x").await.status, 500);
    s.shutdown().await.unwrap();
}

/// The background sweeper removes an expired session and its files by
/// itself (no explicit sweep, no request touching the session).
#[tokio::test]
async fn the_sweeper_runs_on_its_own() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.session_timeout_secs = 0;
    c.sweep_interval_secs = 1;
    let s = start(c).await;
    let a = s.local_addr();
    let id = create(a, "/swept").await;
    let sessions = d.path().join(".bitsim/sessions");
    let files = || std::fs::read_dir(&sessions).unwrap().count();
    assert!(files() > 0, "the session has files");
    // The sweeper unlists the session, then deletes its files.
    let mut left = (usize::MAX, usize::MAX);
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let r = request(a, "GET", "/_bitsim/sessions", &[], b"").await;
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        left = (v.as_array().map_or(usize::MAX, Vec::len), files());
        if left == (0, 0) {
            break;
        }
    }
    assert_eq!(left, (0, 0), "session {id}: (listed, files) after 10 s");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn per_client_session_cap() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.max_sessions_per_client = 3;
    let s = start(c).await;
    let a = s.local_addr();
    let ids = [
        create(a, "/1").await,
        create(a, "/2").await,
        create(a, "/3").await,
    ];
    let r = create_session(a, "/4").await;
    assert_eq!((r.status, r.error_code()), (503, Some("0x80070045")));
    cancel(a, "/1", &ids[0]).await;
    create(a, "/4").await;
    s.shutdown().await.unwrap();
}

/// Create-Sessions sent all at once cannot slip past the cap together:
/// the check and the registration are one step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_session_cap_holds_under_concurrency() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.max_sessions_per_client = 3;
    let s = start(c).await;
    let a = s.local_addr();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            tokio::spawn(async move {
                let r = create_session(a, &format!("/c{i}")).await;
                (r.status, r.error_code().map(str::to_string))
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, None) => created += 1,
            (503, Some(code)) => assert_eq!(code, "0x80070045"),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(created, 3);
    let r = request(a, "GET", "/_bitsim/sessions", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
    s.shutdown().await.unwrap();
}

/// An expired session no longer counts toward the cap, even before the
/// sweeper has removed it.
#[tokio::test]
async fn expired_sessions_do_not_count_toward_the_cap() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.max_sessions_per_client = 1;
    c.session_timeout_secs = 0;
    c.sweep_interval_secs = 3600;
    let s = start(c).await;
    let a = s.local_addr();
    create(a, "/old").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    create(a, "/new").await;
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_sessions() {
    let d = tempfile::tempdir().unwrap();
    // The default per-client cap must allow it: every session comes from
    // 127.0.0.1, as in a test suite or a load test on one host.
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        tasks.push(tokio::spawn(async move {
            let body = data(20_000 + i as usize, i as u8);
            let r = upload(a, &format!("/many/{i}.bin"), &body, 7_000).await;
            assert_eq!(r.status, 200);
            body
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let body = t.await.unwrap();
        assert_eq!(
            std::fs::read(d.path().join(format!("many/{i}.bin"))).unwrap(),
            body
        );
    }
    s.shutdown().await.unwrap();
}

/// With `durability = "power-cut"` on a multi-thread runtime, syncs are
/// grouped (`handler::GroupSync`): a round's leader syncs on its async
/// worker, further rounds on the blocking pool, while fragments of other
/// sessions queue; every byte must be stored and no upload may stall. The
/// same with connections left to tokio's scheduler (`repoll = false`, see
/// `repoll.rs`), and without syncs: no way of polling may lose a body chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_synced_sessions_store_every_byte() {
    use bitsim_server::Durability::{PowerCut, ProcessKill};
    for (durability, repoll) in [(PowerCut, true), (PowerCut, false), (ProcessKill, true)] {
        let d = tempfile::tempdir().unwrap();
        let mut c = cfg(d.path());
        c.max_sessions_per_client = 100;
        c.durability = durability;
        c.repoll = repoll;
        let s = start(c).await;
        let a = s.local_addr();
        let mut tasks = Vec::new();
        for i in 0..24u32 {
            tasks.push(tokio::spawn(async move {
                let body = data(200_000 + 997 * i as usize, i as u8);
                let r = upload(a, &format!("/synced/{i}.bin"), &body, 16_384).await;
                assert_eq!(r.status, 200);
                body
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            // A lost wake-up shows as a stalled upload: fail, don't hang.
            let body = tokio::time::timeout(std::time::Duration::from_secs(60), t)
                .await
                .unwrap_or_else(|_| panic!("upload {i} stalled (repoll = {repoll})"))
                .unwrap();
            assert_eq!(
                std::fs::read(d.path().join(format!("synced/{i}.bin"))).unwrap(),
                body,
                "{durability:?}, repoll = {repoll}"
            );
        }
        s.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_fragments_on_one_session_stay_consistent() {
    let d = tempfile::tempdir().unwrap();
    let s = start(cfg(d.path())).await;
    let a = s.local_addr();
    let body = data(64_000, 11);
    let id = create(a, "/c").await;
    // The same fragment sent 8 times at once (a client retrying hard).
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (id, b) = (id.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            fragment(a, "/c", &id, 0, 64_000, &b[..32_000]).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!((r.status, r.received()), (200, 32_000));
    }
    fragment(a, "/c", &id, 32_000, 64_000, &body[32_000..]).await;
    close(a, "/c", &id).await;
    assert_eq!(std::fs::read(d.path().join("c")).unwrap(), body);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn reply_survives_a_restart_and_orphans_are_cleaned() {
    use bitsim_server::{ReplyApp, ReplyRoute};
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.reply = vec![ReplyRoute {
        prefix: "/echo/".into(),
        app: ReplyApp::Echo {
            copy_to_destination: false,
        },
    }];
    let s = start(c.clone()).await;
    let a = s.local_addr();
    let id = create(a, "/echo/r").await;
    let r = fragment(a, "/echo/r", &id, 0, 5, b"hello").await;
    let url = r.header("BITS-Reply-URL").unwrap().to_string();
    s.shutdown().await.unwrap();
    std::fs::write(d.path().join(".bitsim/sessions/deadbeef.data"), b"orphan").unwrap();

    let s = start(c).await;
    let a2 = s.local_addr();
    let path = url.split_once(&a.to_string()).unwrap().1;
    let g = request(a2, "GET", path, &[], b"").await;
    assert_eq!((g.status, g.body.as_slice()), (200, &b"hello"[..]));
    let r = fragment(a2, "/echo/r", &id, 0, 5, b"hello").await;
    assert_eq!(
        r.header("BITS-Reply-URL"),
        Some(url.as_str()),
        "same reply after restart"
    );
    assert!(!d.path().join(".bitsim/sessions/deadbeef.data").exists());
    assert_eq!(close(a2, "/echo/r", &id).await.status, 200);
    s.shutdown().await.unwrap();
}
