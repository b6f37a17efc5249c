//! Blacklist prefixes: parsing (strict, with messages that name the input)
//! and printing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 prefix whose host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cidr {
    V4 { addr: Ipv4Addr, len: u8 },
    V6 { addr: Ipv6Addr, len: u8 },
}

/// Why a string is not a prefix; the message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix '{input}': {reason}")]
pub struct CidrError {
    pub input: String,
    pub reason: String,
}

impl Cidr {
    pub fn prefix_len(&self) -> u8 {
        match self {
            Cidr::V4 { len, .. } | Cidr::V6 { len, .. } => *len,
        }
    }

    /// The address bytes in network order (4 or 16 of them).
    pub fn addr_bytes(&self) -> Vec<u8> {
        match self {
            Cidr::V4 { addr, .. } => addr.octets().to_vec(),
            Cidr::V6 { addr, .. } => addr.octets().to_vec(),
        }
    }

    /// Whether `ip` falls inside this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Cidr::V4 { addr, len }, IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), *len) == u32::from(*addr)
            }
            (Cidr::V6 { addr, len }, IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), *len) == u128::from(*addr)
            }
            _ => false,
        }
    }
}

fn mask_v4(v: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        v & (u32::MAX << (32 - u32::from(len)))
    }
}

fn mask_v6(v: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        v & (u128::MAX << (128 - u32::from(len)))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Accepts `ADDR/LEN` or a bare address (a host: /32 or /128). Host bits
    /// must be zero: `10.0.0.1/8` is more often a typo than a wish.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| CidrError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        let (addr_s, len_s) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_s
            .parse()
            .map_err(|_| err(format!("'{addr_s}' is not an IPv4 or IPv6 address")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_s {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(err(format!("prefix length must be 0..={max}"))),
            },
        };
        match addr {
            IpAddr::V4(a) => {
                let net = Ipv4Addr::from(mask_v4(u32::from(a), len));
                if net != a {
                    return Err(err(format!(
                        "host bits are set (the network is {net}/{len})"
                    )));
                }
                Ok(Cidr::V4 { addr: a, len })
            }
            IpAddr::V6(a) => {
                let net = Ipv6Addr::from(mask_v6(u128::from(a), len));
                if net != a {
                    return Err(err(format!(
                        "host bits are set (the network is {net}/{len})"
                    )));
                }
                Ok(Cidr::V6 { addr: a, len })
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cidr::V4 { addr, len } => write!(f, "{addr}/{len}"),
            Cidr::V6 { addr, len } => write!(f, "{addr}/{len}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixes_and_hosts() {
        assert_eq!(
            "10.1.0.0/24".parse::<Cidr>().unwrap().to_string(),
            "10.1.0.0/24"
        );
        assert_eq!(
            "192.0.2.7".parse::<Cidr>().unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            "2001:db8::/32".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix_len(), 0);
        assert_eq!(" 10.0.0.0/8 ".parse::<Cidr>().unwrap().prefix_len(), 8);
    }

    #[test]
    fn rejects_bad_input_naming_it() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.1/8",
            "x",
            "2001:db8::1/32",
            "1.2.3.4/-1",
            "::/129",
        ] {
            let e = bad.parse::<Cidr>().unwrap_err();
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
        }
        let e = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert!(e.reason.contains("10.0.0.0/8"), "{e}");
    }

    #[test]
    fn contains_matches_prefix() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let all: Cidr = "::/0".parse().unwrap();
        assert!(all.contains("2001:db8::1".parse().unwrap()));
    }
}
