//! `bitsim-com.exe`: the BITS COM local server (see the crate docs), and
//! `bitsadmin.exe` when its file is named so.
//!
//! ```text
//! bitsim-com.exe install 127.0.0.1:PORT   register as CLSID_BackgroundCopyManager's server
//!                                         (and put bitsadmin.exe in system32 when there is none)
//! bitsim-com.exe uninstall                give the CLSID back to the prefix's own BITS
//! bitsim-com.exe -Embedding               how COM starts it
//! bitsim-com.exe bitsadmin /list          bitsadmin (also: this file named bitsadmin.exe)
//! ```

#[cfg(windows)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let named_bitsadmin = std::env::current_exe().ok().is_some_and(|p| {
        p.file_name()
            .is_some_and(|n| bitsim_com::bitsadmin::is_bitsadmin_name(&n.to_string_lossy()))
    });
    let code = if named_bitsadmin {
        bitsim_com::bitsadmin_com::main(&args)
    } else if args.first().is_some_and(|a| a == "bitsadmin") {
        bitsim_com::bitsadmin_com::main(&args[1..])
    } else {
        bitsim_com::server::main(args)
    };
    std::process::exit(code);
}

#[cfg(not(windows))]
fn main() {
    eprintln!(
        "bitsim-com is a Windows COM server: build it for x86_64-pc-windows-gnu and run it under Wine (scripts/wine-bitsim.sh)"
    );
    std::process::exit(2);
}
