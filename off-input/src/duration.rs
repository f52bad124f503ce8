//! Durations: `--retry-timeout 2m`, a check's `timeout: 5s`, an
//! attribute's `timeout = "500ms"`.

use std::time::Duration;

/// `10s`, `1m30s`, `1m 30s`, `500ms`, or a number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok(Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 10s, 500ms or 2m ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_combinations_and_plain_seconds() {
        let ok = |text| parse_duration(text).unwrap();
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("5s"), Duration::from_secs(5));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1m 30s"), Duration::from_secs(90));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok(" 5 "), Duration::from_secs(5));
        assert_eq!(ok("1.5"), Duration::from_millis(1500));
    }

    #[test]
    fn anything_else_is_an_error_quoting_it() {
        for bad in ["", "s", "-1", "5 parsecs", "inf", "NaN"] {
            let error = parse_duration(bad).unwrap_err();
            assert!(
                error.starts_with(&format!("`{}` is not a duration like 10s", bad.trim())),
                "{bad:?}: {error}"
            );
        }
    }
}
