//! Pinned state of older layouts is upgraded in place by the next command:
//! the first layout (rules in LPM tries `bl_v4`/`bl_v6`), the second
//! (prefix hashes, no compact IPv4 table), the third (the table, but hit
//! counts in per-slot `rule_hits`, not chunks) and the fourth (no per-CPU
//! copies of the table). Rules keep their hit counts, the
//! attachment stays, and its link then filters with the new maps (root only;
//! skipped when a real blacklist is pinned on this host).

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};
use netsight_bpf::probes::xdp::{current_netns, ifindex_of, Blacklist, Geometry, XdpMode};

const STATE: &str = "/sys/fs/bpf/netsight/xdp";
const MAX_RULES: u32 = 1 << 18;

fn sh(args: &[&str]) {
    let ok = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(ok.success(), "{args:?}");
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Creates and pins one map of the first layout.
fn old_map(name: &str, ty: MapType, key: u32, value: u32, max: u32) -> MapHandle {
    // SAFETY: an all-zero bpf_map_create_opts is valid; sz is set below.
    let mut opts: libbpf_sys::bpf_map_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _;
    if ty == MapType::LpmTrie || ty == MapType::Hash {
        opts.map_flags = libbpf_sys::BPF_F_NO_PREALLOC;
    }
    if name == "pfx4_table" || name == "hit_base" || name == "pfx4_cpu" {
        opts.map_flags = libbpf_sys::BPF_F_MMAPABLE;
    }
    let mut map = MapHandle::create(ty, Some(name), key, value, max, &opts).unwrap();
    map.pin(Path::new(STATE).join(name)).unwrap();
    map
}

fn in_netns(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    // SAFETY: setns on a valid namespace descriptor affects only this thread.
    assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
}

/// One UDP/IPv4 frame from `src`, written raw on `dev`.
fn send_from(dev: &str, src: Ipv4Addr) {
    let mut f = vec![0x02, 0, 0, 0, 0x78, 2, 0x02, 0, 0, 0, 0x78, 1, 0x08, 0x00];
    f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&[10, 78, 0, 2, 0x30, 0x39, 0, 9, 0, 8, 0, 0]);
    f.resize(60, 0);
    // SAFETY: plain socket creation.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0);
    // SAFETY: zeroed sockaddr_ll is valid; fields set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex_of(dev).unwrap() as i32;
    sll.sll_halen = 6;
    // SAFETY: f and sll are valid for the lengths given.
    let n = unsafe {
        libc::sendto(
            fd,
            f.as_ptr().cast(),
            f.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(n, f.len() as isize);
    // SAFETY: closing the socket we opened.
    unsafe { libc::close(fd) };
}

/// A namespace holding the veth pair m0/m1, up, without IPv6.
fn veth_pair_in_new_netns() -> Netns {
    let ns = Netns(format!("xdpmig-{}", std::process::id()));
    sh(&["ip", "netns", "add", &ns.0]);
    sh(&[
        "ip",
        "-n",
        &ns.0,
        "link",
        "add",
        "m0",
        "address",
        "02:00:00:00:78:02",
        "type",
        "veth",
        "peer",
        "name",
        "m1",
    ]);
    // No IPv6 on the pair: its router solicitations would be counted too.
    for conf in ["all", "default", "m0", "m1"] {
        sh(&[
            "ip",
            "netns",
            "exec",
            &ns.0,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{conf}.disable_ipv6=1"),
        ]);
    }
    sh(&["ip", "-n", &ns.0, "link", "set", "m0", "up"]);
    sh(&["ip", "-n", &ns.0, "link", "set", "m1", "up"]);

    ns
}

/// An attached, pinned link in slot 0 of `table` (iface_table) on m0,
/// running a program of any version: here one that filters nothing.
fn pin_stand_in_link(table: &MapHandle) {
    let stand_in = Blacklist::private().unwrap();
    let att = stand_in.attach("m0", Some(XdpMode::Native)).unwrap();
    let pin = std::ffi::CString::new(format!("{STATE}/link_0")).unwrap();
    // SAFETY: a valid link descriptor and a NUL-terminated path.
    let rc = unsafe { libbpf_sys::bpf_obj_pin(att.link_fd().as_raw_fd(), pin.as_ptr()) };
    assert_eq!(rc, 0);
    let mut entry = current_netns().unwrap().to_ne_bytes().to_vec();
    entry.extend_from_slice(&ifindex_of("m0").unwrap().to_ne_bytes());
    entry.extend_from_slice(&1u32.to_ne_bytes()); // native
    entry.extend_from_slice(b"m0");
    entry.resize(32, 0);
    table
        .update(&0u32.to_ne_bytes(), &entry, MapFlags::ANY)
        .unwrap();
    drop(att); // the pin keeps the link
}

/// Which older layout the test pins before upgrading.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// LPM tries.
    First,
    /// Per-length prefix hashes and the length bitmap, no pfx4_table.
    Second,
    /// The second plus the (empty) compact table; hits in `rule_hits`.
    Third,
    /// The third plus the chunked counters, without the table's per-CPU
    /// copies: the rule sits in the shared table, its hits in `hit_chunks`.
    Fourth,
}

#[test]
fn first_layout_is_upgraded_in_place() {
    upgrade_case(Layout::First);
}

#[test]
fn second_layout_gains_the_compact_table_in_place() {
    upgrade_case(Layout::Second);
}

#[test]
fn third_layout_gains_chunked_hit_counters_in_place() {
    upgrade_case(Layout::Third);
}

#[test]
fn fourth_layout_gains_per_cpu_copies_of_the_table_in_place() {
    upgrade_case(Layout::Fourth);
}

/// The shared table's bucket of 198.51.100.0/24 in slot 5, entry in way 0
/// (xdp.h: the entry's bits and the bucket hash).
fn table_bucket_of_the_rule() -> (u32, Vec<u8>) {
    let word = u32::from_ne_bytes([198, 51, 100, 0]);
    let home = ((24u64 << 32 | u64::from(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as u32;
    let entry = 1u64 << 63 | 5u64 << 38 | 24u64 << 32 | u64::from(word);
    let mut bucket = entry.to_ne_bytes().to_vec();
    bucket.resize(64, 0);
    (home, bucket)
}

/// Root, and no real blacklist pinned on this host (the tests pin there).
fn may_pin_here() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return false;
    }
    if Path::new(STATE).exists() {
        eprintln!("skipped: a blacklist is pinned at {STATE}");
        return false;
    }
    true
}

/// Both cases pin at the one state path: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn upgrade_case(layout: Layout) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !may_pin_here() {
        return;
    }
    let ns = veth_pair_in_new_netns();
    let name = ns.0.clone();
    std::thread::spawn(move || {
        in_netns(&name);
        std::fs::create_dir_all(STATE).unwrap();
        // The old layout, with one rule in slot 5 that has 11 hits.
        let v4 = match layout {
            Layout::First => {
                old_map("bl_v6", MapType::LpmTrie, 20, 4, MAX_RULES);
                old_map("bl_v4", MapType::LpmTrie, 8, 4, MAX_RULES)
            }
            Layout::Second | Layout::Third | Layout::Fourth => {
                if layout != Layout::Second {
                    let t = old_map("pfx4_table", MapType::Array, 4, 64, 1 << 16);
                    old_map("pfx4_meta", MapType::Array, 4, 8, 1);
                    if layout == Layout::Fourth {
                        let (home, bucket) = table_bucket_of_the_rule();
                        t.update(&home.to_ne_bytes(), &bucket, MapFlags::ANY)
                            .unwrap();
                    }
                }
                old_map("pfx_v6", MapType::Hash, 20, 4, MAX_RULES);
                let lens = old_map("pfx_lens", MapType::Array, 4, 32, 1);
                let mut bits = (1u64 << 24).to_ne_bytes().to_vec();
                bits.resize(32, 0);
                lens.update(&0u32.to_ne_bytes(), &bits, MapFlags::ANY)
                    .unwrap();
                old_map("pfx_v4", MapType::Hash, 8, 4, MAX_RULES)
            }
        };
        let ncpus = libbpf_rs::num_possible_cpus().unwrap();
        if layout == Layout::Fourth {
            let chunks = old_map(
                "hit_chunks",
                MapType::PercpuArray,
                4,
                8 * 2048,
                MAX_RULES / 2048,
            );
            old_map("hit_base", MapType::Array, 4, 8, MAX_RULES);
            let mut per_cpu = vec![vec![0u8; 8 * 2048]; ncpus];
            per_cpu[0][8 * 5..8 * 6].copy_from_slice(&11u64.to_ne_bytes());
            chunks
                .update_percpu(&0u32.to_ne_bytes(), &per_cpu, MapFlags::ANY)
                .unwrap();
        } else {
            let hits = old_map("rule_hits", MapType::PercpuArray, 4, 8, MAX_RULES);
            let mut per_cpu = vec![vec![0u8; 8]; ncpus];
            per_cpu[0] = 11u64.to_ne_bytes().to_vec();
            hits.update_percpu(&5u32.to_ne_bytes(), &per_cpu, MapFlags::ANY)
                .unwrap();
        }
        old_map("iface_stats", MapType::PercpuArray, 4, 16, 64);
        let table = old_map("iface_table", MapType::Array, 4, 32, 64);
        let mut key = 24u32.to_ne_bytes().to_vec();
        key.extend_from_slice(&[198, 51, 100, 0]);
        v4.update(&key, &5u32.to_ne_bytes(), MapFlags::ANY).unwrap();

        pin_stand_in_link(&table);

        let bl = Blacklist::open().unwrap().expect("upgraded blacklist");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(!Path::new(STATE).join("bl_v4").exists());
            assert!(Path::new(STATE).join("pfx_v4").exists());
            assert!(Path::new(STATE).join("pfx4_table").exists());
            assert!(Path::new(STATE).join("hit_chunks").exists());
            assert!(Path::new(STATE).join("pfx4_cpu").exists());
            // The retired counters stay: they hold the 11 hits.
            if layout != Layout::Fourth {
                assert!(Path::new(STATE).join("rule_hits").exists());
            }
            let rules = bl.rule_hits().unwrap();
            assert_eq!(rules.len(), 1);
            assert_eq!(rules[0].cidr.to_string(), "198.51.100.0/24");
            assert_eq!(rules[0].hits, 11);
            let ifaces = bl.interfaces().unwrap();
            assert_eq!(ifaces.len(), 1, "{ifaces:?}");
            // The same link now runs a program on the new maps.
            send_from("m1", Ipv4Addr::new(198, 51, 100, 9));
            send_from("m1", Ipv4Addr::new(203, 0, 113, 9));
            // veth runs XDP in its NAPI poll, after sendto returns.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while bl.interfaces().unwrap()[0].passed < 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            assert_eq!(bl.rule_hits().unwrap()[0].hits, 12);
            let me = &bl.interfaces().unwrap()[0];
            assert_eq!((me.passed, me.dropped), (1, 1));
            // A second open finds nothing left to upgrade.
            assert_eq!(
                Blacklist::open().unwrap().unwrap().rules().unwrap().len(),
                1
            );
        }));
        bl.detach_all().unwrap();
        bl.remove_pins().unwrap();
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    })
    .join()
    .unwrap();
    assert!(!Path::new(STATE).exists(), "pins left behind");
}

/// State of the layout before table geometries (every map there, the
/// table searched whole), emptied, its link running an older program: the
/// next add starts the table small and moves the link to this build's
/// program, which then filters with it.
#[test]
fn an_emptied_blacklist_from_before_geometries_moves_its_link_on() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !may_pin_here() {
        return;
    }
    let ns = veth_pair_in_new_netns();
    let name = ns.0.clone();
    std::thread::spawn(move || {
        in_netns(&name);
        std::fs::create_dir_all(STATE).unwrap();
        let copies = std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .unwrap()
            .trim()
            .rsplit(['-', ','])
            .next()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            + 1;
        old_map("pfx_v4", MapType::Hash, 8, 4, MAX_RULES);
        old_map("pfx_v6", MapType::Hash, 20, 4, MAX_RULES);
        old_map("pfx_lens", MapType::Array, 4, 32, 1);
        old_map(
            "hit_chunks",
            MapType::PercpuArray,
            4,
            8 * 2048,
            MAX_RULES / 2048,
        );
        old_map("hit_base", MapType::Array, 4, 8, MAX_RULES);
        old_map("iface_stats", MapType::PercpuArray, 4, 16, 64);
        let table = old_map("iface_table", MapType::Array, 4, 32, 64);
        old_map("pfx4_table", MapType::Array, 4, 64, 1 << 16);
        old_map("pfx4_meta", MapType::Array, 4, 8, 1);
        old_map("pfx4_cpu", MapType::Array, 4, 64, copies << 16);
        pin_stand_in_link(&table);

        let bl = Blacklist::open().unwrap().expect("pinned blacklist");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_eq!(bl.v4_table_geometry().unwrap(), Geometry::WHOLE);
            bl.add(&["198.51.100.0/24".parse().unwrap()]).unwrap();
            assert_eq!(bl.v4_table_geometry().unwrap(), Geometry::FIRST);
            send_from("m1", Ipv4Addr::new(198, 51, 100, 9));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while bl.interfaces().unwrap()[0].dropped < 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            assert_eq!(
                bl.rule_hits().unwrap()[0].hits,
                1,
                "this build's program filters"
            );
        }));
        bl.detach_all().unwrap();
        bl.remove_pins().unwrap();
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    })
    .join()
    .unwrap();
    assert!(!Path::new(STATE).exists(), "pins left behind");
}
