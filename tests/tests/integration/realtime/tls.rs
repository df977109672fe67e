//! HTTPS end to end: the real-time driver's rustls client against
//! `bitsim serve`'s rustls server with a self-signed CA, over loopback.
//! Success with the CA trusted; each certificate failure (expired, wrong
//! host, unknown CA) ends the job in ERROR with the WinHTTP code BITS
//! reports, fatal at once (decision A29).

use bitsim_model::{ErrorContext, Hresult, JobState};
use bitsim_server::{FaultRule, TlsCertFault, TlsConfig};

use super::common::*;

async fn tls_env() -> Env {
    Env::with(|c| {
        c.tls = Some(TlsConfig {
            self_signed: true,
            ..TlsConfig::default()
        });
    })
    .await
}

fn https(env: &Env, path: &str) -> String {
    format!("https://{}{path}", env.addr)
}

fn trusting(env: &Env) -> bitsim::realtime::RtConfig {
    let mut cfg = rt_config();
    cfg.ca_file = Some(env.root.join(".bitsim/tls/ca.pem"));
    cfg
}

#[tokio::test]
async fn download_and_upload_over_https_with_a_trusted_ca() {
    let env = tls_env().await;
    let src = env.root.join("f.bin");
    make_file(&src, 3 << 20, 4);
    let (mut d, _rec) = driver(trusting(&env));
    let dest = env.local.join("f.bin");
    let job = d.download(&me(), &https(&env, "/f.bin"), &dest).unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred,
        "{:?}",
        d.manager().job(job).and_then(|j| j.error.clone())
    );
    assert_eq!(d.complete(&me(), job).unwrap(), Hresult::S_OK);
    assert_eq!(sha(&dest), sha(&src));

    let up = env.local.join("up.bin");
    make_file(&up, 1 << 20, 5);
    let job = d
        .upload(&me(), &up, &https(&env, "/up/u.bin"), None)
        .unwrap();
    resume(&mut d, job);
    assert_eq!(
        run_to(&mut d, job, JobState::Transferred).await,
        JobState::Transferred,
        "{:?}",
        d.manager().job(job).and_then(|j| j.error.clone())
    );
    assert_eq!(d.complete(&me(), job).unwrap(), Hresult::S_OK);
    assert_eq!(sha(&env.root.join("up/u.bin")), sha(&up));
}

async fn fails_with(env: &Env, cfg: bitsim::realtime::RtConfig, code: Hresult) {
    make_file(&env.root.join("g.bin"), 10_000, 6);
    let (mut d, rec) = driver(cfg);
    let job = d
        .download(&me(), &https(env, "/g.bin"), env.local.join("g.bin"))
        .unwrap();
    resume(&mut d, job);
    d.run_until(std::time::Duration::from_secs(30), |m| {
        matches!(
            state(m, job),
            Some(JobState::Error | JobState::TransientError)
        )
    })
    .await;
    assert_eq!(
        state(d.manager(), job),
        Some(JobState::Error),
        "{:?}",
        d.manager().job(job).and_then(|j| j.error.clone())
    );
    let e = d.manager().job(job).unwrap().error.clone().unwrap();
    assert_eq!(e.code, code, "{e:?}");
    assert_eq!(e.context, ErrorContext::GeneralTransport);
    assert!(
        !rec.states().contains(&JobState::TransientError),
        "a certificate failure is fatal at once (A29)"
    );
}

fn fault(env: &Env, f: TlsCertFault) {
    env.server
        .as_ref()
        .unwrap()
        .faults()
        .add(FaultRule {
            tls_cert: Some(f),
            ..FaultRule::default()
        })
        .unwrap();
}

#[tokio::test]
async fn an_expired_certificate_is_secure_cert_date_invalid() {
    let env = tls_env().await;
    fault(&env, TlsCertFault::Expired);
    fails_with(
        &env,
        trusting(&env),
        Hresult::WINHTTP_E_SECURE_CERT_DATE_INVALID,
    )
    .await;
}

#[tokio::test]
async fn a_wrong_host_certificate_is_secure_cert_cn_invalid() {
    let env = tls_env().await;
    fault(&env, TlsCertFault::WrongHost);
    fails_with(
        &env,
        trusting(&env),
        Hresult::WINHTTP_E_SECURE_CERT_CN_INVALID,
    )
    .await;
}

#[tokio::test]
async fn an_unknown_ca_is_secure_invalid_ca() {
    let env = tls_env().await;
    fails_with(&env, rt_config(), Hresult::WINHTTP_E_SECURE_INVALID_CA).await;
}

#[tokio::test]
async fn a_ca_file_that_is_not_pem_is_refused_naming_it() {
    let env = tls_env().await;
    let bad = env.local.join("ca.txt");
    std::fs::write(&bad, "not a certificate").unwrap();
    let mut cfg = rt_config();
    cfg.ca_file = Some(bad);
    let e = bitsim::realtime::Driver::open(cfg).err().expect("refused");
    assert!(e.to_string().contains("ca.txt"), "{e}");
}
