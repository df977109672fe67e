//! # bitsim-com: bitsim as the BITS service of unmodified Windows programs
//!
//! `bitsim-com.exe` is a COM local server for `CLSID_BackgroundCopyManager`
//! `{4991D34B-80A1-4291-83B6-3328366B9097}`, written in Rust with the
//! `windows` crate and built for `x86_64-pc-windows-gnu`. A Windows program
//! that calls
//!
//! ```c
//! CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
//!                  &IID_IBackgroundCopyManager, (void **)&manager);
//! ```
//!
//! as every BITS client does, gets this server instead of Wine's BITS, and
//! every call it makes is forwarded over loopback TCP to a `bitsim service`
//! running natively on Linux: the job model, virtual time the test drives,
//! injected faults and inspection, for a program never changed for testing.
//!
//! ## How the call reaches the server under Wine
//!
//! A fresh Wine prefix registers the CLSID with `AppID
//! {69AD4AEE-51BE-439B-A92C-86AE490E8B30}`, whose `LocalService` is `BITS`
//! (`svchost.exe -k netsvcs`, `ServiceDll = qmgr.dll`), and registers
//! `qmgrprxy.dll` as the proxy/stub of the BITS interfaces
//! (`Interface\{IID}\ProxyStubClsid32`). For `CLSCTX_LOCAL_SERVER`, COM
//! first asks for a class object already registered with
//! `CoRegisterClassObject`; if there is none it starts the CLSID's
//! `LocalService`, and only without one its `LocalServer32` command with
//! `-Embedding` (Microsoft: "LocalServer32", "LocalService" and
//! "CoRegisterClassObject" in the COM registry and API reference).
//!
//! `bitsim-com.exe install ADDR` therefore:
//!
//! 1. removes the CLSID's `AppID` value (so no `LocalService` is tried),
//! 2. sets `CLSID\{4991D34B-...}\LocalServer32` to its own path,
//! 3. writes `ADDR` to `HKLM\Software\bitsim\Service`,
//! 4. copies itself to `%SystemRoot%\system32\bitsadmin.exe` when the
//!    prefix has no `bitsadmin.exe` (Wine 8.0 has none; see [`bitsadmin`]),
//!    and remembers that it did (`HKLM\Software\bitsim\Bitsadmin`);
//!
//! and `bitsim-com.exe uninstall` removes the `bitsadmin.exe` it put there
//! (only that one: a prefix's own is never touched), puts the `AppID` back
//! and removes the rest, so Wine's BITS answers again. The route was chosen over replacing
//! the `BITS` service's `ServiceDll` or image because it needs no service
//! control code, keeps `CLSCTX_LOCAL_SERVER` (the program's process stays
//! apart from the server, and `qmgrprxy.dll` marshals every call as it
//! would to the real service), and is undone by restoring one value. The
//! server runs as the calling user, as the per-user `LocalServer32` does.
//!
//! `bitsim wine install --service ADDR`, `bitsim wine uninstall` and
//! `bitsim wine run [--clock MODE] [--world simulated|http] -- PROGRAM.exe`
//! do the same from Linux (the last also starts the service, with the
//! service's clock modes); `scripts/wine-bitsim.sh` builds everything and
//! runs C programs and the conformance suite through it under Wine. On Wine
//! before 8.13 a Rust `.exe` also needs `ProcessPrng` in the prefix:
//! `bitsim wine install` makes a missing prefix and puts a
//! `bcryptprimitives.dll` exporting it (`crates/bitsim-cli/wine/processprng-shim.c`,
//! built with mingw-w64) into its `system32` when the prefix's Wine needs it.
//!
//! The started server registers its class factory (`REGCLS_MULTIPLEUSE`),
//! connects to the service once, and leaves when no object of it has been
//! alive for a few seconds.
//!
//! ## What is served
//!
//! * `IBackgroundCopyManager`: CreateJob, GetJob, EnumJobs,
//!   GetErrorDescription (the model's text for the HRESULT);
//! * `IBackgroundCopyJob`: AddFile, EnumFiles, Suspend, Resume, Cancel,
//!   Complete, GetId, GetType, GetProgress, GetState, GetError, GetOwner,
//!   Set/GetDisplayName, Set/GetDescription, Set/GetPriority,
//!   Set/GetNotifyFlags, SetNotifyInterface, Set/GetMinimumRetryDelay,
//!   GetTimes (the model's times as dates: virtual time zero is the
//!   calendar instant the service names in `session.hello`,
//!   2000-01-01T00:00:00Z on a virtual clock; see `bitsim service`'s docs),
//!   Set/GetNoProgressTimeout, GetErrorCount, TakeOwnership;
//! * `IBackgroundCopyJob2`: Set/GetNotifyCmdLine, GetReplyProgress,
//!   GetReplyData, Set/GetReplyFileName; `IBackgroundCopyJob3`:
//!   AddFileWithRanges (the interfaces Wine's `qmgrprxy.dll` marshals);
//! * `IEnumBackgroundCopyJobs`, `IEnumBackgroundCopyFiles` (snapshots, as
//!   BITS's enumerators are), `IBackgroundCopyFile` and `File2`
//!   (GetFileRanges, SetRemoteName; read from the service on each call), `IBackgroundCopyError` (the error when it was read);
//! * the program's `IBackgroundCopyCallback` (`Callback2` for
//!   FileTransferred): when the service sends a notification for a job, the
//!   object registered for that job is called and its HRESULT is the
//!   answer; a job without one answers `RPC_E_SERVER_UNAVAILABLE` (a gone
//!   object).
//!
//! Answering `E_NOTIMPL`: AddFileSet, Set/GetProxySettings,
//! GetNotifyInterface (the object lives in the program), Set/RemoveCredentials,
//! ReplaceRemotePrefix, Set/GetFileACLFlags (not in the model),
//! `IBackgroundCopyError::GetFile` for an upload-reply's reply;
//! `IBackgroundCopyJob4`/`5` and `File3`.. are not offered (Wine has no
//! proxy for them). CreateJob with a type
//! outside `BG_JOB_TYPE` answers `E_INVALIDARG` (the protocol carries only
//! the three names). An HRESULT from the service is returned unchanged; the
//! bridge's own failures are described in [`proto`].
//!
//! Known under Wine 8.0: `IBackgroundCopyError::GetErrorDescription` and
//! `GetErrorContextDescription` fail in the program's proxy with
//! `0x800706F4` (`RPC_X_NULL_REF_POINTER`) although the server returns the
//! text: Wine's IDL declares these out-parameters `[out, ref] LPWSTR *`,
//! unlike the job's string getters, which cross fine. `GetError` works, and
//! the manager's `GetErrorDescription` gives the same text.
//!
//! ## Settings
//!
//! * the service's address: `BITSIM_SERVICE`, else
//!   `HKLM\Software\bitsim\Service` ([`proto::service_address`]); COM
//!   starts the server from the program's process, so the program's
//!   environment reaches it;
//! * the user a program calls as (`session.hello`), from *that program's*
//!   environment when it creates its manager ([`identity`], read by module
//!   `caller`): `BITSIM_USER`, else `USERNAME` (Wine sets it to the Unix
//!   user), else `user`; an administrator with `BITSIM_ADMIN=1`. Two
//!   programs of two users can run at the same time;
//! * logging: `BITSIM_COM_LOG` (a `tracing` filter), to stderr.
//!
//! ## Decisions (where BITS has no counterpart)
//!
//! * **One server, one connection per user.** COM starts one
//!   `bitsim-com.exe` for the Wine session (`REGCLS_MULTIPLEUSE`), as the
//!   one BITS service serves every program; its own environment is the
//!   first program's. So when a program creates its manager, the server
//!   asks RPC which process is calling (`I_RpcBindingInqLocalClientPID`)
//!   and reads that process's `BITSIM_USER` and `BITSIM_ADMIN` from its
//!   environment block (module `caller`; where the caller cannot be read,
//!   the server's own environment decides). The manager, and every job,
//!   file and error reached through it, call the service on a connection
//!   of that identity, opened on first use. This stands in for what
//!   Windows does with the caller's token, which under Wine is the same
//!   Unix user for every process. One server per program
//!   (`REGCLS_SINGLEUSE`, each started with its program's environment)
//!   was tried first and dropped: with two programs starting at once,
//!   Wine 8.0's activation connected each program to the server the
//!   *other* one had started (its class-object pipe is named by the CLSID
//!   alone), and a program that found a single-use server already taken
//!   failed with `E_NOINTERFACE`.
//! * **Callbacks are routed by job**: `SetNotifyInterface` registers the
//!   connection with the service and keeps the program's object for that
//!   job; a notification for the job calls that object, each on a thread
//!   of its own, so a callback that takes its time does not hold the next
//!   one back: with a service whose clock runs by itself (`real`,
//!   `scaled:N`) the program sees up to four calls at once, BITS's limit
//!   per user, which the service's model enforces ([`proto`]).
//! * **Local files are named by their Linux paths** on the way to the
//!   service and by their Windows paths on the way back (module `paths`, Wine's
//!   `wine_get_unix_file_name`/`wine_get_dos_file_name`), so `bitsim
//!   service --world http` reads and writes the files the program named.
//!   A notification command line is passed on unchanged: it names a
//!   Windows program, which the native service starts through a launcher,
//!   the Wine loader in the prefix (`bitsim service --launcher
//!   /usr/lib/wine/wine64` with `WINEPREFIX` set; `bitsim wine run --world
//!   http` sets it), so `GetNotifyCmdLine` returns what the program set
//!   and the program it names runs in the prefix it was named in, as the
//!   job's owner: BITS starts it as that user \[CMDLINE\], and the launcher
//!   puts the owner in its `BITSIM_USER` (`--launcher-user-var
//!   BITSIM_USER`), which this server reads as it reads any program's.
//! * **`bitsadmin.exe` is this program under another name**: the command
//!   line programs give BITS is most often `bitsadmin.exe /complete
//!   {GUID}`, and Wine 8.0 has no `bitsadmin.exe`. Named `bitsadmin.exe`
//!   (or run as `bitsim-com.exe bitsadmin ARGS`), the executable is a BITS
//!   client of whatever serves `CLSID_BackgroundCopyManager` in the prefix:
//!   `/list`, `/info`, `/complete`, `/cancel`, `/resume`, `/suspend`
//!   ([`bitsadmin`] has the switches, the output and what differs from
//!   Windows'). One file rather than a second executable: `install` needs
//!   nothing but itself to put it in place.
//! * **A bridge failure is `0x800706BA`**, what a client of a BITS service
//!   that has gone away sees, never a hang: connecting has a 5 s limit and
//!   every call a 60 s one ([`proto::CALL_TIMEOUT`], longer than the
//!   service's own 30 s wait for a callback's answer).
//! * **The server leaves** 5 s after its last object and lock are released
//!   (`BITSIM_COM_LINGER_MS`), so a program that releases its manager and
//!   creates another keeps its connection.
//!
//! ## Speed
//!
//! A COM call from the program reaches the service through two hops:
//! Wine's cross-process COM (the program, `wineserver`, this server's RPC
//! thread) and this server's JSON-RPC round trip to the service. Both are
//! chains of thread wake-ups, and on a virtual machine whose idle CPUs
//! halt, a wake-up that crosses CPUs costs far more than one that does not
//! (on bitsim's 2-CPU CI machine, a pipe round trip between two processes:
//! about 70 µs across CPUs, 4 µs on one). `bitsim wine run` therefore runs
//! the service and the whole Wine session on one CPU by default (`--cpus
//! one`; `--cpus all` to not pin). Figures, medians of 2000 calls:
//!
//! | what | one CPU | every CPU |
//! |---|---|---|
//! | `GetState` from `bench.c` through bitsim (`scripts/wine-bitsim.sh`, debug builds) | 216–530 µs | 0.36–1.23 ms |
//! | the same call on Wine's own BITS, same runs | 104–264 µs | 0.24–0.95 ms |
//! | the bridge alone from Windows under Wine: `job.get_state` by [`proto::Connection`] (example `bridge`, release) | 54–55 µs | 302–303 µs |
//! | the same, the example built for Linux | 18–19 µs | 98–99 µs |
//!
//! The bridge writes each message with one socket write: under Wine every
//! write is a request to `wineserver`, and writing the newline apart cost
//! about 100 µs a call across CPUs (bridge under Wine: 394–409 µs before,
//! 302–303 after). The bridge figures come from
//!
//! ```text
//! bitsim service --listen 127.0.0.1:0 &                # note its address
//! cargo run --release -p bitsim-com --example bridge -- ADDR 2000
//! cargo build --release --target x86_64-pc-windows-gnu -p bitsim-com --example bridge
//! wine target/x86_64-pc-windows-gnu/release/examples/bridge.exe ADDR 2000
//! ```
//!
//! each also under `taskset -c 0` (the service too) for the one-CPU column.
//! Across CPUs the figures swing with the machine's load: a CPU that is
//! busy with other work is not halted, and waking a thread on it is
//! cheap; on an idle machine every hop pays for a halted CPU. On one CPU
//! they hardly move.
//!
//! On Linux this crate is [`proto`], the part that talks to the service,
//! tested against a real `bitsim service`, and [`bitsadmin`]'s command
//! line and output.

pub mod bitsadmin;
#[cfg(windows)]
pub mod bitsadmin_com;
#[cfg(windows)]
pub mod caller;
pub mod identity;
#[cfg(windows)]
pub mod paths;
pub mod proto;

#[cfg(windows)]
pub mod server;
