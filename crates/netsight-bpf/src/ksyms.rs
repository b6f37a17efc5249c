//! Kernel addresses to symbol names, from /proc/kallsyms (root sees real
//! addresses). Loaded once, looked up by binary search.

/// A sorted snapshot of the kernel's text symbols.
#[derive(Default)]
pub struct Ksyms {
    syms: Vec<(u64, String)>,
}

impl Ksyms {
    pub fn load() -> Self {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        Self::parse(&text)
    }

    /// Parses kallsyms lines ("ffffffff81000000 T _stext [module]").
    pub fn parse(text: &str) -> Self {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok()?;
                let kind = f.next()?;
                let name = f.next()?;
                (addr != 0 && matches!(kind, "T" | "t")).then(|| (addr, name.to_string()))
            })
            .collect();
        syms.sort_unstable();
        syms.dedup_by_key(|s| s.0);
        Ksyms { syms }
    }

    /// "tcp_v4_rcv+0x2a", or the hex address when unknown.
    pub fn symbol(&self, addr: u64) -> String {
        match self.syms.partition_point(|s| s.0 <= addr) {
            0 => format!("{addr:#x}"),
            i => {
                let (start, name) = &self.syms[i - 1];
                format!("{name}+{:#x}", addr - start)
            }
        }
    }

    /// [start, end) of a function: its address and the next symbol's.
    pub fn range(&self, name: &str) -> Option<(u64, u64)> {
        let i = self.syms.iter().position(|s| s.1 == name)?;
        let start = self.syms[i].0;
        let end = self.syms.get(i + 1).map_or(start + 4096, |s| s.0);
        Some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ffffffff81000000 T _stext\n\
        ffffffff81000100 t helper\n\
        ffffffff81000200 D some_data\n\
        ffffffff81000300 T tcp_v4_rcv\n\
        0000000000000000 T hidden\n";

    #[test]
    fn symbolizes_and_ranges() {
        let k = Ksyms::parse(SAMPLE);
        assert_eq!(k.symbol(0xffffffff81000105), "helper+0x5");
        assert_eq!(k.symbol(0xffffffff81000300), "tcp_v4_rcv+0x0");
        assert_eq!(k.symbol(0x10), "0x10");
        assert_eq!(
            k.range("helper"),
            Some((0xffffffff81000100, 0xffffffff81000300))
        );
        assert_eq!(k.range("nope"), None);
    }
}
