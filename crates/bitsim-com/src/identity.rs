//! Who a program is to bitsim: the user it calls as, and whether it is an
//! administrator, from its environment (`BITSIM_USER`, else `USERNAME`,
//! which Wine sets to the Unix user, else `user`; `BITSIM_ADMIN=1`).
//! Platform-independent, so that it is tested on Linux; the Windows server
//! reads the environment of the calling program (module `caller`).

/// The user a connection to the service calls as (`session.hello`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Identity {
    /// The BITS user.
    pub user: String,
    /// An administrator (sees and manages every user's jobs).
    pub admin: bool,
}

impl Identity {
    /// The identity `var` describes (`var(NAME)`: the value of an
    /// environment variable).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Identity {
        let set = |n: &str| var(n).filter(|v| !v.trim().is_empty());
        Identity {
            user: set("BITSIM_USER")
                .or_else(|| set("USERNAME"))
                .unwrap_or_else(|| "user".into()),
            admin: var("BITSIM_ADMIN").is_some_and(|v| v.trim() == "1"),
        }
    }
}

/// The value of `name` in a Windows environment block (`NAME=VALUE`
/// strings, each ended by a NUL, the block by another). Names compare
/// without regard to ASCII case, as Windows compares them; entries whose
/// name starts with `=` (the per-drive current directories) are skipped.
pub fn env_lookup(block: &[u16], name: &str) -> Option<String> {
    block
        .split(|&u| u == 0)
        .take_while(|s| !s.is_empty())
        .map(String::from_utf16_lossy)
        .filter(|s| !s.starts_with('='))
        .find_map(|s| {
            let (n, v) = s.split_once('=')?;
            n.eq_ignore_ascii_case(name).then(|| v.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(entries: &[&str]) -> Vec<u16> {
        let mut b: Vec<u16> = Vec::new();
        for e in entries {
            b.extend(e.encode_utf16());
            b.push(0);
        }
        b.push(0);
        b
    }

    #[test]
    fn names_are_found_without_regard_to_case() {
        let b = block(&["=C:=C:\\", "Path=C:\\windows", "bitsim_user=alice", "X=a=b"]);
        assert_eq!(env_lookup(&b, "BITSIM_USER").as_deref(), Some("alice"));
        assert_eq!(env_lookup(&b, "X").as_deref(), Some("a=b"));
        assert_eq!(env_lookup(&b, "C:"), None);
        assert_eq!(env_lookup(&b, "HOME"), None);
        // Nothing after the block's end counts.
        let mut b = block(&["A=1"]);
        b.extend("B=2".encode_utf16());
        assert_eq!(env_lookup(&b, "B"), None);
    }

    #[test]
    fn the_user_is_bitsim_user_then_username_then_user() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let id = Identity::from_env(env(&[("BITSIM_USER", "bob"), ("USERNAME", "root")]));
        assert_eq!(
            id,
            Identity {
                user: "bob".into(),
                admin: false
            }
        );
        let id = Identity::from_env(env(&[
            ("BITSIM_USER", " "),
            ("USERNAME", "root"),
            ("BITSIM_ADMIN", "1"),
        ]));
        assert_eq!(
            id,
            Identity {
                user: "root".into(),
                admin: true
            }
        );
        let id = Identity::from_env(env(&[("BITSIM_ADMIN", "yes")]));
        assert_eq!(
            id,
            Identity {
                user: "user".into(),
                admin: false
            }
        );
    }
}
