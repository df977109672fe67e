//! `bitsim-com.exe`: the BITS COM local server (see the crate docs).
//!
//! ```text
//! bitsim-com.exe install 127.0.0.1:PORT   register as CLSID_BackgroundCopyManager's server
//! bitsim-com.exe uninstall                give the CLSID back to the prefix's own BITS
//! bitsim-com.exe -Embedding               how COM starts it
//! ```

#[cfg(windows)]
fn main() {
    std::process::exit(bitsim_com::server::main(std::env::args().skip(1).collect()));
}

#[cfg(not(windows))]
fn main() {
    eprintln!(
        "bitsim-com is a Windows COM server: build it for x86_64-pc-windows-gnu and run it under Wine (scripts/wine-bitsim.sh)"
    );
    std::process::exit(2);
}
