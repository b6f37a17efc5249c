//! The blacklisted prefixes: prefix i is 10.0.0.0 + 64*i, a /26 (so 100k
//! prefixes span 10.0.0.0 - 10.97.167.255); with one prefix the rule is
//! 10.0.0.0/8. The flood (xdpgen.bpf.c) spreads its sources over the /26
//! blocks of the large set (or its first N with `--hot N`) in both cases:
//! only the rule count changes.

use std::net::Ipv4Addr;

pub fn prefix(i: usize) -> String {
    let base = 0x0a00_0000u32 + 64 * i as u32;
    format!("{}/26", Ipv4Addr::from(base))
}

/// Every prefix as CIDR strings.
pub fn all(count: usize) -> Vec<String> {
    if count == 1 {
        return vec!["10.0.0.0/8".into()];
    }
    (0..count).map(prefix).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_tile_ten_slash_eight() {
        assert_eq!(prefix(0), "10.0.0.0/26");
        assert_eq!(prefix(1), "10.0.0.64/26");
        assert_eq!(prefix(99_999), "10.97.167.192/26");
        assert_eq!(all(1), vec!["10.0.0.0/8".to_string()]);
        assert_eq!(all(3).len(), 3);
    }
}
