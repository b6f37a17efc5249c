//! The benchmark's private network: a generator namespace and a receiver
//! namespace joined by one veth pair. The receiver's veth runs NAPI in a
//! kernel thread (GRO on + threaded NAPI) so that every cycle it spends on
//! received packets is that thread's and can be measured. Everything is
//! deleted on drop, including on Ctrl-C and on panic.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

use anyhow::{bail, Context};

pub const GEN_IP: &str = "192.168.77.1";
pub const RX_IP: &str = "192.168.77.2";
pub const GEN_MAC: [u8; 6] = [0x02, 0x6e, 0x73, 0, 0, 0x01];
pub const RX_MAC: [u8; 6] = [0x02, 0x6e, 0x73, 0, 0, 0x02];

pub struct Topology {
    pub gen_ns: String,
    pub rx_ns: String,
    pub gen_dev: String,
    pub rx_dev: String,
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs a command; its stderr becomes the error.
pub fn cmd(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command with `input` on stdin (restore files, nft scripts).
pub fn cmd_stdin(args: &[&str], input: &str) -> anyhow::Result<()> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", args[0]))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Topology {
    pub fn create() -> anyhow::Result<Topology> {
        let id = std::process::id();
        let t = Topology {
            gen_ns: format!("nsbench-gen-{id}"),
            rx_ns: format!("nsbench-rx-{id}"),
            gen_dev: format!("nbg{id}"),
            rx_dev: format!("nbr{id}"),
        };
        t.build().inspect_err(|_| t.remove())?;
        Ok(t)
    }

    fn build(&self) -> anyhow::Result<()> {
        let (g, r) = (self.gen_ns.as_str(), self.rx_ns.as_str());
        let (gd, rd) = (self.gen_dev.as_str(), self.rx_dev.as_str());
        cmd(&["ip", "netns", "add", g])?;
        cmd(&["ip", "netns", "add", r])?;
        cmd(&[
            "ip",
            "link",
            "add",
            gd,
            "netns",
            g,
            "address",
            &mac(&GEN_MAC),
            "type",
            "veth",
            "peer",
            "name",
            rd,
            "netns",
            r,
            "address",
            &mac(&RX_MAC),
        ])?;
        for (ns, dev, ip) in [(g, gd, GEN_IP), (r, rd, RX_IP)] {
            self.sysctl(ns, &format!("net.ipv6.conf.{dev}.disable_ipv6=1"))?;
            cmd(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                dev,
            ])?;
            cmd(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            cmd(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        // Spoofed flood sources must reach the stack in the no-filter case.
        self.sysctl(r, "net.ipv4.conf.all.rp_filter=0")?;
        self.sysctl(r, &format!("net.ipv4.conf.{rd}.rp_filter=0"))?;
        // No ARP under flood: the legitimate path must not depend on it.
        cmd(&[
            "ip",
            "-n",
            g,
            "neigh",
            "replace",
            RX_IP,
            "lladdr",
            &mac(&RX_MAC),
            "dev",
            gd,
            "nud",
            "permanent",
        ])?;
        cmd(&[
            "ip",
            "-n",
            r,
            "neigh",
            "replace",
            GEN_IP,
            "lladdr",
            &mac(&GEN_MAC),
            "dev",
            rd,
            "nud",
            "permanent",
        ])?;
        // GRO gives the receiving veth a NAPI ring (as XDP does); threaded
        // NAPI moves its processing into a kthread we can pin and measure.
        cmd(&["ip", "netns", "exec", r, "ethtool", "-K", rd, "gro", "on"])
            .context("ethtool is needed to enable NAPI on the veth")?;
        cmd(&[
            "ip",
            "netns",
            "exec",
            r,
            "sh",
            "-c",
            &format!("echo 1 > /sys/class/net/{rd}/threaded"),
        ])?;
        // veth only hands a frame to that ring when the sender cannot build
        // TSO super-packets; otherwise it takes the backlog path on the
        // sender's CPU and the cost would land on the generator.
        cmd(&["ip", "netns", "exec", g, "ethtool", "-K", gd, "tso", "off"])?;
        Ok(())
    }

    fn sysctl(&self, ns: &str, kv: &str) -> anyhow::Result<()> {
        cmd(&["ip", "netns", "exec", ns, "sysctl", "-qw", kv]).map(drop)
    }

    /// `ip netns exec <rx> ARGS...`
    pub fn in_rx(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut full = vec!["ip", "netns", "exec", self.rx_ns.as_str()];
        full.extend_from_slice(args);
        cmd(&full)
    }

    pub fn in_rx_stdin(&self, args: &[&str], input: &str) -> anyhow::Result<()> {
        let mut full = vec!["ip", "netns", "exec", self.rx_ns.as_str()];
        full.extend_from_slice(args);
        cmd_stdin(&full, input)
    }

    /// A counter of a device's statistics (rx_packets, tx_dropped...).
    pub fn dev_stat(&self, ns: &str, dev: &str, name: &str) -> anyhow::Result<u64> {
        let s = cmd(&[
            "ip",
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{dev}/statistics/{name}"),
        ])?;
        Ok(s.trim().parse()?)
    }

    /// The receiving veth's NAPI kthread ("napi/<dev>-<id>").
    pub fn napi_thread(&self) -> Option<u32> {
        let prefix = format!("napi/{}-", self.rx_dev);
        fs::read_dir("/proc")
            .ok()?
            .filter_map(Result::ok)
            .find_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                comm.starts_with(&prefix).then_some(pid)
            })
    }

    fn remove(&self) {
        for ns in [&self.gen_ns, &self.rx_ns] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Spawns a thread that first joins network namespace `ns`.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    name: &str,
    cpu: Option<usize>,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<JoinHandle<anyhow::Result<T>>> {
    let path = format!("/run/netns/{ns}");
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let file = fs::File::open(&path).with_context(|| format!("opening {path}"))?;
            // SAFETY: setns on a valid namespace descriptor affects only this thread.
            if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) }
                != 0
            {
                return Err(std::io::Error::last_os_error()).context("setns");
            }
            if let Some(cpu) = cpu {
                pin_to_cpu(0, cpu);
            }
            f()
        })?;
    Ok(handle)
}

/// Pins a thread (0 = the caller) to one CPU; best effort.
pub fn pin_to_cpu(tid: u32, cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays within its bounds for
    // cpu < CPU_SETSIZE, and sched_setaffinity reads it for the given size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set);
        libc::sched_setaffinity(tid as i32, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Nanoseconds a thread has run (schedstat, ns resolution).
pub fn thread_cpu_ns(tid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}
