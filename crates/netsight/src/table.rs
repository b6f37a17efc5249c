//! Plain-text tables with right-aligned numeric columns and human units.

/// Bytes per second as `12.3K`, `4.5M` (powers of 1024, like `ss`/`top`).
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["", "K", "M", "G", "T"];
    let mut v = v;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}

/// A duration in microseconds: `850us`, `1.2ms`, `12.3ms`, `250ms`,
/// `1.20s`; 0 (no sample) is `-`. At most six characters below 100 s, so it
/// fits narrow columns; stat, top and their drill-downs all use this one.
pub fn micros(us: u64) -> String {
    match us {
        0 => "-".into(),
        1..=999 => format!("{us}us"),
        1_000..=99_999 => format!("{:.1}ms", us as f64 / 1e3),
        100_000..=999_999 => format!("{}ms", (us + 500) / 1000),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Milliseconds as `850ms`, `12s`, `3m`, `2h`; `-` for zero.
pub fn millis(ms: u64) -> String {
    match ms {
        0 => "-".into(),
        1..=999 => format!("{ms}ms"),
        1_000..=119_999 => format!("{}s", ms / 1000),
        120_000..=7_199_999 => format!("{}m", ms / 60_000),
        _ => format!("{}h", ms / 3_600_000),
    }
}

/// A count, `-` for zero so that problems stand out.
pub fn count(v: u64) -> String {
    if v == 0 {
        "-".into()
    } else {
        v.to_string()
    }
}

/// One column of a table of `T`s: its header and how to show its cell.
/// Naming both together keeps headers and cells from drifting apart.
pub type Column<T> = (&'static str, fn(&T) -> String);

/// Renders one row per item under the columns' headers; the first `left`
/// columns are left-aligned.
pub fn render_columns<'a, T: 'a>(
    columns: &[Column<T>],
    items: impl IntoIterator<Item = &'a T>,
    left: usize,
) -> String {
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let rows: Vec<Vec<String>> = items
        .into_iter()
        .map(|item| columns.iter().map(|(_, cell)| cell(item)).collect())
        .collect();
    render(&header, &rows, left)
}

/// Renders rows under a header; the first `left` columns are left-aligned.
/// Every row must have one cell per header; a row with more still shows
/// them all (under no header) rather than lose numbers silently.
pub fn render(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    debug_assert!(
        rows.iter().all(|r| r.len() == header.len()),
        "a row's cells do not match the {} headers",
        header.len()
    );
    let ncols = rows.iter().map(Vec::len).fold(header.len(), usize::max);
    let mut widths: Vec<usize> = (0..ncols)
        .map(|i| header.get(i).map_or(0, |h| h.len()))
        .collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                if i < left {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        parts.join(" ").trim_end().to_string()
    };
    let mut out = line(&mut header.iter().copied());
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bytes(512.0), "512");
        assert_eq!(bytes(1536.0), "1.5K");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0M");
        assert_eq!(micros(0), "-");
        assert_eq!(micros(850), "850us");
        assert_eq!(micros(1234), "1.2ms");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(250_400), "250ms");
        assert_eq!(micros(1_200_000), "1.20s");
        assert_eq!(millis(90_000), "90s");
        assert_eq!(count(0), "-");
    }

    #[test]
    fn aligns_columns() {
        let t = render(
            &["PID", "COMM", "TX/s"],
            &[vec!["1".into(), "a".into(), "10".into()]],
            2,
        );
        assert_eq!(t, "PID COMM TX/s\n1   a      10\n");
    }
}
