//! File permission bits, spelled the same in a recipe (`.mode(0o750)`,
//! a `Mode` kwarg), a check spec and `off.yaml`: octal digits with or
//! without a leading `0` or `0o` (`0750`, `750`, `0o750`), or chmod's
//! symbolic assignments (`u=rwx,g=rx`, `a=r`, `u=rwxs,o=t`).
//!
//! Octal digits are octal wherever they are written: YAML's `mode: 0750`
//! and JSON's `"mode": 750` are both 0o750, never the decimal number 750.

use std::fmt;
use std::str::FromStr;

/// Permission bits of a file or directory (at most `0o7777`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mode(u32);

impl Mode {
    /// The largest mode: setuid, setgid, sticky and `rwx` for everyone.
    pub const MAX: u32 = 0o7777;

    /// `bits` as a mode, when they are permission bits only.
    pub const fn new(bits: u32) -> Option<Mode> {
        if bits <= Mode::MAX {
            Some(Mode(bits))
        } else {
            None
        }
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The digits a mode is read back from and `stat -c %a` prints: `0750`.
    pub fn octal(self) -> String {
        format!("{:04o}", self.0)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// Why a text is no mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeError(String);

impl fmt::Display for ModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a file mode (octal permission bits like 0750 or 0o750, or symbolic like u=rwx,g=rx)",
            self.0
        )
    }
}

impl std::error::Error for ModeError {}

impl FromStr for Mode {
    type Err = ModeError;

    fn from_str(text: &str) -> Result<Mode, ModeError> {
        let error = || ModeError(text.to_string());
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(error());
        }
        if trimmed.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            let digits = trimmed
                .strip_prefix("0o")
                .or_else(|| trimmed.strip_prefix("0O"))
                .unwrap_or(trimmed);
            // Five digits at most: `00750` is how some tools print 0750.
            if digits.is_empty() || digits.len() > 5 {
                return Err(error());
            }
            let bits = u32::from_str_radix(digits, 8).map_err(|_| error())?;
            return Mode::new(bits).ok_or_else(error);
        }
        symbolic(trimmed).ok_or_else(error)
    }
}

/// The permission bits of `bits`: higher bits (a file type, as in
/// `st_mode`) are dropped.
impl From<u32> for Mode {
    fn from(bits: u32) -> Mode {
        Mode(bits & Mode::MAX)
    }
}

impl From<Mode> for u32 {
    fn from(mode: Mode) -> u32 {
        mode.0
    }
}

/// `u=rwx,g=rx,o=`: each clause assigns the permissions of the classes it
/// names; classes no clause names get none. Relative clauses (`u+x`) are
/// refused: they depend on the file's mode before, and a mode here states
/// the mode after.
fn symbolic(text: &str) -> Option<Mode> {
    let mut bits = 0;
    for clause in text.split(',') {
        let (who, perms) = clause.split_once('=')?;
        let who = if who.is_empty() || who == "a" {
            "ugo"
        } else {
            who
        };
        if !who.bytes().all(|b| b"ugoa".contains(&b)) {
            return None;
        }
        let who = who.replace('a', "ugo");
        for class in who.bytes() {
            let shift = match class {
                b'u' => 6,
                b'g' => 3,
                _ => 0,
            };
            // A class assigned twice keeps its last assignment, as chmod does.
            bits &= !(0o7 << shift);
            bits &= !match class {
                b'u' => 0o4000,
                b'g' => 0o2000,
                _ => 0o1000,
            };
            for p in perms.bytes() {
                bits |= match (p, class) {
                    (b'r', _) => 0o4 << shift,
                    (b'w', _) => 0o2 << shift,
                    (b'x', _) => 0o1 << shift,
                    (b's', b'u') => 0o4000,
                    (b's', b'g') => 0o2000,
                    (b't', b'o') => 0o1000,
                    _ => return None,
                };
            }
        }
    }
    Mode::new(bits)
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Mode {
    /// A string in any spelling of [`Mode::from_str`]; a number's decimal
    /// digits are read as octal (`750` is 0o750), since that is how a mode
    /// is written in JSON or as an unquoted YAML scalar.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        struct ModeVisitor;
        impl serde::de::Visitor<'_> for ModeVisitor {
            type Value = Mode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file mode like \"0750\" or \"u=rwx,g=rx\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Mode, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Mode, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Mode, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_str(ModeVisitor)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Mode {
    /// As the four octal digits, a string, so no reader takes it for decimal.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.octal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(text: &str) -> Result<u32, String> {
        text.parse::<Mode>()
            .map(Mode::bits)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn octal_digits_are_octal_however_written() {
        for text in ["0750", "750", "0o750", "00750", " 0750 "] {
            assert_eq!(mode(text), Ok(0o750), "{text}");
        }
        assert_eq!(mode("4755"), Ok(0o4755));
        assert_eq!(mode("0"), Ok(0));
        for bad in [
            "", "0o", "8", "0758", "17777", "0x1ed", "-644", "644 x", "007777x",
        ] {
            let err = mode(bad).unwrap_err();
            assert!(err.contains("is not a file mode"), "{bad}: {err}");
        }
    }

    #[test]
    fn symbolic_assignments() {
        assert_eq!(mode("u=rwx,g=rx"), Ok(0o750));
        assert_eq!(mode("u=rw,g=r,o=r"), Ok(0o644));
        assert_eq!(mode("a=r"), Ok(0o444));
        assert_eq!(mode("=rx"), Ok(0o555));
        assert_eq!(mode("ug=rwx,o="), Ok(0o770));
        assert_eq!(mode("u=rwxs,g=rxs,o=t"), Ok(0o6750 | 0o1000));
        assert_eq!(mode("a=rwx,o=r"), Ok(0o774), "a later clause wins");
        for bad in ["u+x", "u=rwq", "z=r", "o=s", "u=r,,g=r", "rwx"] {
            assert!(mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shown_as_four_octal_digits() {
        let m: Mode = "u=rw".parse().unwrap();
        assert_eq!(m.to_string(), "0600");
        assert_eq!(Mode::new(0o10000), None);
    }
}
