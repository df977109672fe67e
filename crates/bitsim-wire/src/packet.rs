//! Packet types, the `BITS_POST` method and the protocol GUID.

use crate::{Error, MAX_HEADER_VALUE, Result};

/// The only protocol GUID ever defined: "BITS 1.5 Upload Protocol",
/// sent in `BITS-Supported-Protocols` and echoed in `BITS-Protocol`.
// [MC-BUP] 1.7.1; [W32-CS] (Create-Session page).
pub const BITS_1_5_PROTOCOL: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

/// The method of every upload request.
// [MC-BUP] 2.2.1.
pub const BITS_POST: &str = "BITS_POST";

/// Most GUIDs accepted in `BITS-Supported-Protocols`.
// [MC-BUP] 6 <6>: the Windows server accepts up to 100 GUIDs.
pub const MAX_PROTOCOLS: usize = 100;

/// A BITS packet type (`BITS-Packet-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `Ping` (\[MC-BUP\] 2.2.4).
    Ping,
    /// `Create-Session` (\[MC-BUP\] 2.2.2).
    CreateSession,
    /// `Fragment` (\[MC-BUP\] 2.2.6).
    Fragment,
    /// `Close-Session` (\[MC-BUP\] 2.2.8).
    CloseSession,
    /// `Cancel-Session` (\[MC-BUP\] 2.2.10).
    CancelSession,
}

impl PacketType {
    /// Every request packet type, in protocol order.
    pub const ALL: [PacketType; 5] = [
        PacketType::Ping,
        PacketType::CreateSession,
        PacketType::Fragment,
        PacketType::CloseSession,
        PacketType::CancelSession,
    ];

    /// The response packet type of every answer: `Ack`.
    // [MC-BUP] 2.2.1.2: BITS-Packet-Type is "Ack" on every response.
    pub const ACK: &'static str = "Ack";

    /// Parses a packet type, case-insensitively.
    // [MC-BUP] 2.2.1.2 spells them upper-case, Windows sends mixed case
    // ([MC-BUP] 4.1); every peer compares case-insensitively.
    pub fn parse(value: &[u8]) -> Result<Self> {
        let v = std::str::from_utf8(value)
            .map_err(|_| Error::new("BITS-Packet-Type is not UTF-8"))?
            .trim();
        PacketType::ALL
            .into_iter()
            .find(|t| v.eq_ignore_ascii_case(t.as_str()))
            // [MC-BUP] 2.2.1.2: an unknown packet → 400 + 0x80070057.
            .ok_or_else(|| Error::new(format!("unknown BITS-Packet-Type {v:?}")))
    }

    /// The canonical (Windows) spelling, as sent by the Windows client
    /// (\[MC-BUP\] 4.1).
    pub fn as_str(self) -> &'static str {
        match self {
            PacketType::Ping => "Ping",
            PacketType::CreateSession => "Create-Session",
            PacketType::Fragment => "Fragment",
            PacketType::CloseSession => "Close-Session",
            PacketType::CancelSession => "Cancel-Session",
        }
    }
}

impl std::fmt::Display for PacketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Normalises a GUID for comparison: trims, strips braces, lower-cases.
fn norm_guid(s: &str) -> String {
    s.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// Picks the protocol from a `BITS-Supported-Protocols` list.
///
/// The list is space- or comma-separated, most preferred first; GUIDs are
/// matched case-insensitively with or without braces. Returns the
/// canonical GUID to echo in `BITS-Protocol`, or an [`Error`] if no
/// listed protocol is supported.
// [MC-BUP] 2.2.2.2: space- or comma-delimited, client's preference order;
// 6 <6>: up to 100 GUIDs; 2.2.1.2: no common protocol → 400 + 0x80070057.
pub fn negotiate_protocol(value: &[u8]) -> Result<&'static str> {
    if value.len() > MAX_HEADER_VALUE {
        return Err(Error::new("BITS-Supported-Protocols too long"));
    }
    let s = std::str::from_utf8(value)
        .map_err(|_| Error::new("BITS-Supported-Protocols is not UTF-8"))?;
    let wanted = norm_guid(BITS_1_5_PROTOCOL);
    s.split([' ', ',', '\t'])
        .filter(|t| !t.is_empty())
        .take(MAX_PROTOCOLS)
        .any(|item| norm_guid(item) == wanted)
        .then_some(BITS_1_5_PROTOCOL)
        .ok_or_else(|| Error::new("no common protocol"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        let g = BITS_1_5_PROTOCOL;
        assert!(negotiate_protocol(g.as_bytes()).is_ok());
        assert!(negotiate_protocol(b"{AAAA} , {7DF0354D-249B-430F-820D-3D2A9BEF4931}").is_ok());
        assert!(negotiate_protocol(b"7df0354d-249b-430f-820d-3d2a9bef4931").is_ok());
        assert!(negotiate_protocol(b"{00000000-0000-0000-0000-000000000000}").is_err());
        assert!(negotiate_protocol(b"").is_err());
        // Only the first 100 entries count.
        let late = format!("{} {g}", vec!["{x}"; MAX_PROTOCOLS].join(" "));
        assert!(negotiate_protocol(late.as_bytes()).is_err());
    }

    #[test]
    fn packet_types_case_insensitive() {
        assert_eq!(
            PacketType::parse(b"CREATE-SESSION").ok(),
            Some(PacketType::CreateSession)
        );
        assert_eq!(
            PacketType::parse(b" fragment ").ok(),
            Some(PacketType::Fragment)
        );
        assert!(PacketType::parse(b"Ack").is_err());
        assert!(PacketType::parse(b"\xff").is_err());
        for t in PacketType::ALL {
            assert_eq!(PacketType::parse(t.to_string().as_bytes()), Ok(t));
        }
    }
}
