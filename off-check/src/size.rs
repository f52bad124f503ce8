//! File sizes as a spec writes them: `1234`, `22K`, `1.5M`, `2G` (also `KB`,
//! `KiB`; the units are powers of 1024).
//!
//! A size with a unit is read the way `ls -lh` and `du -h` show sizes, rounded
//! up: `22K` matches a file of more than 21 KiB up to 22 KiB. A size without a
//! unit is an exact byte count.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq)]
pub struct Size {
    /// The number before the unit.
    pub value: f64,
    /// Bytes per unit: 1, 1024, 1024², 1024³ or 1024⁴.
    pub unit: u64,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size `{text}`: {reason}")]
pub struct SizeError {
    pub text: String,
    pub reason: &'static str,
}

impl Size {
    /// An exact byte count.
    pub fn bytes(n: u64) -> Size {
        Size {
            value: n as f64,
            unit: 1,
            text: n.to_string(),
        }
    }

    /// Whether a file of `actual` bytes has this size.
    pub fn matches(&self, actual: u64) -> bool {
        if self.unit == 1 {
            return actual as f64 == self.value;
        }
        // Rounded up to a tenth of the unit when the size has decimals, else
        // to whole units, as `ls -lh` prints them.
        let scale = if self.value.fract() == 0.0 { 1.0 } else { 10.0 };
        let shown = (actual as f64 * scale / self.unit as f64).ceil() / scale;
        (shown - self.value).abs() < 1e-9
    }
}

impl FromStr for Size {
    type Err = SizeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| SizeError {
            text: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| err("expected a number followed by an optional unit K, M, G or T"))?;
        let unit = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" | "KIB" => 1 << 10,
            "M" | "MB" | "MIB" => 1 << 20,
            "G" | "GB" | "GIB" => 1 << 30,
            "T" | "TB" | "TIB" => 1 << 40,
            _ => return Err(err("unknown unit (use K, M, G or T, powers of 1024)")),
        };
        if unit == 1 && value.fract() != 0.0 {
            return Err(err("a byte count must be a whole number"));
        }
        Ok(Size {
            value,
            unit,
            text: trimmed.to_string(),
        })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Size {
        text.parse().unwrap()
    }

    #[test]
    fn units_round_up_like_ls_h() {
        assert!(s("22K").matches(22 * 1024));
        assert!(s("22K").matches(21 * 1024 + 1));
        assert!(!s("22K").matches(21 * 1024));
        assert!(!s("22K").matches(22 * 1024 + 1));
        assert!(s("1.5M").matches(1536 * 1024));
        assert!(s("1.5M").matches(1500 * 1024));
        assert!(s("2G").matches(2 << 30));
        assert!(s("1KiB").matches(1000));
        assert!(s("1kb").matches(1024));
    }

    #[test]
    fn bare_numbers_are_exact_bytes() {
        assert!(s("1234").matches(1234));
        assert!(!s("1234").matches(1235));
        assert!(s("0").matches(0));
        assert!(Size::bytes(7).matches(7));
    }

    #[test]
    fn bad_sizes_say_why() {
        for bad in ["", "K", "12Q", "1.5", "-3", "1 2K"] {
            assert!(bad.parse::<Size>().is_err(), "{bad}");
        }
        assert!(
            "12Q"
                .parse::<Size>()
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
    }
}
