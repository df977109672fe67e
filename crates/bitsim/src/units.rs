//! Durations and sizes as people write them in scenario files.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration written `500ms`, `90s`, `10m`, `2h`, `14d` or a bare number of seconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub Duration);

impl Span {
    /// Parses `500ms`, `90s`, `10m`, `2h`, `14d`, `1d12h`, or seconds.
    pub fn parse(s: &str) -> Result<Span, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty duration".into());
        }
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(Span(Duration::from_secs(secs)));
        }
        let mut total: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!(
                    "bad duration {s:?}: expected a number before {rest:?}"
                ));
            }
            let n: u128 = rest[..digits]
                .parse()
                .map_err(|_| format!("bad number in {s:?}"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let ms: u128 = match unit {
                "ms" => 1,
                "s" => 1000,
                "m" | "min" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => {
                    return Err(format!(
                        "bad duration unit {unit:?} in {s:?} (use ms, s, m, h, d)"
                    ));
                }
            };
            total = total.saturating_add(n.saturating_mul(ms));
        }
        Ok(Span(Duration::from_millis(
            total.min(u64::MAX as u128) as u64
        )))
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let mut rest = ms;
        for (unit, size) in [
            ("d", 86_400_000u128),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

/// A scenario value written as a bare number (seconds, bytes) or as text
/// with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    N(u64),
    S(String),
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// The forms a duration may be written in, for error messages.
pub const SPAN_FORMS: &str =
    "a number of seconds >= 0, or text such as 500ms, 90s, 10m, 2h, 14d, 1d12h";

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration: {SPAN_FORMS}")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Span, E> {
                Ok(Span(Duration::from_secs(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Span, E> {
                u64::try_from(v)
                    .map(|v| Span(Duration::from_secs(v)))
                    .map_err(|_| {
                        E::custom(format!("duration {v} is negative (allowed: {SPAN_FORMS})"))
                    })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Span, E> {
                Err(E::custom(format!(
                    "duration {v} is not a whole number of seconds (allowed: {SPAN_FORMS})"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Span, E> {
                Span::parse(v).map_err(|m| E::custom(format!("{m} (allowed: {SPAN_FORMS})")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte count written `1500`, `64KiB`, `10MB`, `1GiB`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Size(pub u64);

impl Size {
    /// Parses a byte count with an optional unit (B, KB, KiB, MB, MiB, GB, GiB).
    pub fn parse(s: &str) -> Result<Size, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n: u64 = s[..split].parse().map_err(|_| format!("bad size {s:?}"))?;
        let mult: u64 = match s[split..].trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1000,
            "KiB" => 1024,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            u => {
                return Err(format!(
                    "bad size unit {u:?} in {s:?} (use B, KB, KiB, MB, MiB, GB, GiB)"
                ));
            }
        };
        n.checked_mul(mult)
            .map(Size)
            .ok_or_else(|| format!("size {s:?} overflows"))
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::N(n) => Ok(Size(n)),
            NumberOrText::S(s) => Size::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print() {
        assert_eq!(Span::parse("10m").unwrap().0, Duration::from_secs(600));
        assert_eq!(
            Span::parse("1d12h").unwrap().0,
            Duration::from_secs(129_600)
        );
        assert_eq!(Span::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(Span::parse("42").unwrap().0, Duration::from_secs(42));
        assert!(Span::parse("10x").is_err());
        assert!(Span::parse("m").is_err());
        assert_eq!(
            Span(Duration::from_secs(90 * 86_400 + 61)).to_string(),
            "90d1m1s"
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(Size::parse("64KiB").unwrap().0, 65_536);
        assert_eq!(Size::parse("10MB").unwrap().0, 10_000_000);
        assert!(Size::parse("10XB").is_err());
    }
}
