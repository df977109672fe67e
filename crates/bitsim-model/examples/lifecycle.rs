//! Drives one download job through its life cycle and prints every rule
//! that fires: create, add files, resume, a transient 503 and its retry,
//! progress, TRANSFERRED, JobTransferred, Complete.
//!
//! Run with `cargo run -p bitsim-model --example lifecycle`.
#![allow(clippy::print_stdout)]

use bitsim_model::*;

fn drain(bits: &mut Manager) -> Vec<Output> {
    let out: Vec<Output> = std::iter::from_fn(|| bits.poll_output()).collect();
    for o in &out {
        match o {
            Output::Transition {
                at,
                rule,
                from,
                to,
                code,
                ..
            } => {
                let row = rule.transition();
                let code = code.map(|c| format!("  [{c}]")).unwrap_or_default();
                if from == to {
                    println!("{at}  {rule:<3}  {from:<15}  ({}){code}", row.trigger);
                } else {
                    println!(
                        "{at}  {rule:<3}  {from:<15} -> {to:<15}  ({}){code}",
                        row.trigger
                    );
                }
            }
            Output::Notify { kind, .. } => println!("{:>16}  callback {}()", "", kind.method()),
            Output::StartTransfer { file, offset, .. } => {
                println!("{:>16}  start transfer of {file:?} at byte {offset}", "")
            }
            Output::FilePublished { file, .. } => println!("{:>16}  published {file:?}", ""),
            _ => {}
        }
    }
    out
}

fn main() -> Result<(), Error> {
    let mut bits = Manager::new(Policy::default());
    let alice = Caller::user("alice");
    let mut now = Time::ZERO;
    let job = bits.create_job(
        now,
        &alice,
        JobId::from_random_bytes([42; 16]),
        "nightly update",
        JobType::Download,
    )?;
    bits.add_file(
        now,
        &alice,
        job,
        "https://updates.example.com/a.bin",
        "/var/tmp/a.bin",
    )?;
    bits.add_file(
        now,
        &alice,
        job,
        "https://updates.example.com/b.bin",
        "/var/tmp/b.bin",
    )?;
    bits.set_notify_interface(now, &alice, job, Some(CallbackId(1)))?;
    bits.resume(now, &alice, job)?;
    drain(&mut bits);

    // The first connection gets a 503: transient, retried after 600 s.
    bits.handle_transfer_error(now, job, TransferError::http(503, FileRef::File(0)));
    drain(&mut bits);
    now = bits.poll_timeout().expect("retry timer armed");
    bits.handle_timeout(now);
    drain(&mut bits);

    bits.handle_connected(now, job);
    for (i, size) in [(0, 4096u64), (1, 1024)] {
        bits.handle_file_size(now, job, i, size);
        now = now.saturating_add(std::time::Duration::from_secs(2));
        bits.handle_progress(now, job, i, size / 2);
        now = now.saturating_add(std::time::Duration::from_secs(2));
        bits.handle_progress(now, job, i, size);
        bits.handle_file_done(now, job, i);
    }
    for o in drain(&mut bits) {
        if let Output::Notify { id, .. } = o {
            bits.handle_callback_result(now, id, Hresult::S_OK);
        }
    }
    drain(&mut bits);
    let hr = bits.complete(now, &alice, job)?;
    drain(&mut bits);
    let j = bits.job(job).expect("held view");
    println!(
        "Complete returned {hr}; final state {}; {} of {} files published",
        j.state,
        j.files.iter().filter(|f| f.completed).count(),
        j.files.len()
    );
    Ok(())
}
