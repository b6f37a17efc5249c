//! Wall-clock timestamps in the one format every record uses.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2026-11-22T10:00:01.000Z`: RFC 3339, UTC, milliseconds.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}Z", date_time(d.as_secs()), d.subsec_millis())
}

/// `2026-11-22T10:00:01.000123Z`: the same with microseconds (socket data
/// records, SPEC §8).
pub fn rfc3339_micros(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}Z", date_time(d.as_secs()), d.subsec_micros())
}

/// `2026-11-22T10:00:01` for seconds since the epoch.
fn date_time(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_341_601_000);
        assert_eq!(rfc3339_millis(t), "2026-11-22T10:00:01.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_123);
        assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.123Z");
        let micros = UNIX_EPOCH + Duration::from_micros(1_795_341_601_000_123);
        assert_eq!(rfc3339_micros(micros), "2026-11-22T10:00:01.000123Z");
    }
}
