//! Short, fixed-width renderings of numbers for table cells.

use std::net::IpAddr;

/// Bytes with a 1024-based suffix: `512B`, `1.21K`, `12.3M`, `123G`.
pub fn bytes(v: f64) -> String {
    scaled(v, 1024.0, "B", &["K", "M", "G", "T"])
}

/// A count (per second or not) with a 1000-based suffix: `0`, `0.5`, `12`, `1.2k`.
pub fn count(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v < 10.0 {
        return format!("{v:.1}");
    }
    scaled(v, 1000.0, "", &["k", "M", "G"])
}

fn scaled(v: f64, base: f64, unit: &str, suffixes: &[&str]) -> String {
    if !v.is_finite() || v < 0.0 {
        return "?".into();
    }
    if v < base {
        return format!("{v:.0}{unit}");
    }
    let mut v = v / base;
    let mut i = 0;
    while v >= base && i + 1 < suffixes.len() {
        v /= base;
        i += 1;
    }
    let digits = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.digits$}{}", suffixes[i])
}

/// `Some` rate through `f`, `None` (not observable) as `-`.
pub fn opt(v: Option<f64>, f: fn(f64) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

/// `10.0.0.1:80` or `[fd00::1]:80`, like `ss`.
pub fn endpoint((ip, port): (IpAddr, u16)) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The time of day of an RFC 3339 timestamp (`HH:MM:SS`).
pub fn time_of_day(ts: &str) -> &str {
    ts.get(11..19).unwrap_or("--:--:--")
}

/// Seconds without needless decimals: `1s`, `0.5s`, `0.25s`.
pub fn seconds(s: f64) -> String {
    let text = format!("{s:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_fit_their_cells() {
        assert_eq!(bytes(0.0), "0B");
        assert_eq!(bytes(1023.0), "1023B");
        assert_eq!(bytes(1024.0 * 1.5), "1.50K");
        assert_eq!(bytes(1024.0 * 1024.0 * 12.34), "12.3M");
        assert_eq!(bytes(1024.0 * 1024.0 * 1024.0 * 500.0), "500G");
        assert_eq!(count(0.0), "0");
        assert_eq!(count(0.5), "0.5");
        assert_eq!(count(12.0), "12");
        assert_eq!(count(12_345.0), "12.3k");
        assert_eq!(opt(None, bytes), "-");
        assert_eq!(seconds(1.0), "1s");
        assert_eq!(seconds(0.25), "0.25s");
        assert_eq!(time_of_day("2026-11-22T10:00:01.000Z"), "10:00:01");
        assert_eq!(time_of_day(""), "--:--:--");
        assert_eq!(bytes(f64::NAN), "?");
    }

    #[test]
    fn endpoints_look_like_ss() {
        assert_eq!(endpoint(("10.0.0.1".parse().unwrap(), 80)), "10.0.0.1:80");
        assert_eq!(endpoint(("fd77::1".parse().unwrap(), 443)), "[fd77::1]:443");
    }
}
