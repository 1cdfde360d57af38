//! Flags shared by every subcommand that sends: interface, addresses, source ports, and the
//! step that turns them into routes (after privilege is known to be there).

use std::net::IpAddr;

use clap::Args;

use super::{CliError, values};
use crate::cookie::SourcePorts;
use crate::engine::Paths;
use crate::io::{self, IoError, LoopbackGuard, NetPath, PathOptions};
use crate::target::TargetSet;

#[derive(Debug, Args)]
pub struct NetArgs {
    /// Send and listen on this interface instead of the one the kernel routes the targets through.
    #[arg(short = 'i', long, value_name = "IF")]
    pub interface: Option<String>,
    /// Source address of the probes (default: the interface's address the kernel would use).
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<String>,
    /// Next hop's MAC address (default: from the neighbour table, resolved with ARP/NDP).
    #[arg(long, value_name = "MAC")]
    pub gateway_mac: Option<String>,
    /// Source port or range of the probes. The default lies outside Linux's ephemeral
    /// range, so no real local socket is ever hit.
    #[arg(long, value_name = "PORT|A-B", default_value = "61001-65535")]
    pub source_port: String,
}

/// The network flags, parsed but not yet looked up.
#[derive(Debug, Clone)]
pub struct NetPlan {
    pub opts: PathOptions,
    pub source_ports: SourcePorts,
}

impl NetArgs {
    /// Pure validation: no socket, no lookup.
    pub fn plan(&self) -> Result<NetPlan, CliError> {
        let source_ip = match &self.source_ip {
            Some(s) => Some(s.trim().parse::<IpAddr>().map_err(|_| {
                CliError::Input(format!("invalid source address '{s}': not an IP address"))
            })?),
            None => None,
        };
        let gateway_mac = self
            .gateway_mac
            .as_deref()
            .map(values::mac)
            .transpose()
            .map_err(CliError::Input)?;
        let source_ports = SourcePorts::parse(&self.source_port).map_err(CliError::Input)?;
        if let Some(ifname) = &self.interface
            && !io::interface_exists(ifname)
        {
            return Err(CliError::Input(format!("unknown interface '{ifname}'")));
        }
        Ok(NetPlan {
            opts: PathOptions {
                interface: self.interface.clone(),
                source_ip,
                gateway_mac,
            },
            source_ports,
        })
    }
}

/// One address of each family present in `targets`: the route of that one is the route of
/// all of them (the usual case of one fleet behind one interface; `--interface` overrides).
pub fn representatives(targets: &TargetSet) -> (Option<IpAddr>, Option<IpAddr>) {
    let v4 = targets.has_v4().then(|| targets.ip_at(0));
    let v6 = targets.has_v6().then(|| targets.ip_at(targets.v4_len()));
    (v4, v6)
}

impl NetPlan {
    /// A --source-ip applies to the targets of its family; with none of them it would be
    /// silently ignored, so it is refused.
    pub fn check_source_family(&self, has_v4: bool, has_v6: bool) -> Result<(), CliError> {
        match self.opts.source_ip {
            Some(ip) if !(if ip.is_ipv4() { has_v4 } else { has_v6 }) => {
                let fam = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
                Err(CliError::Input(format!(
                    "invalid source address '{ip}': it is {fam}, and no target is"
                )))
            }
            _ => Ok(()),
        }
    }

    /// The path options for a target of `ip`'s family: a --source-ip of the other family
    /// must not be applied to this one.
    pub fn opts_for(&self, ip: IpAddr) -> PathOptions {
        let mut o = self.opts.clone();
        if o.source_ip.is_some_and(|s| s.is_ipv4() != ip.is_ipv4()) {
            o.source_ip = None;
        }
        o
    }
}

/// Both families must leave through one interface: the engine has one receive ring.
pub fn one_link(paths: &Paths) -> Result<(), CliError> {
    match (&paths.v4, &paths.v6) {
        (Some(a), Some(b)) if a.link != b.link => Err(CliError::Input(format!(
            "IPv4 targets route through {} but IPv6 targets through {}; probe them separately or set --interface",
            a.link.name, b.link.name
        ))),
        _ => Ok(()),
    }
}

/// Put back what a killed run left on this host, then turn on what a 127/8 probe needs
/// for the run; keep the guard alive until the run ends.
pub fn loopback_guard(paths: &Paths) -> Result<Option<LoopbackGuard>, CliError> {
    let (guard, notice) = match &paths.v4 {
        Some(p) if p.link.loopback => {
            let lo = io::enable_loopback_v4()?;
            (lo.guard, lo.notice)
        }
        // Nothing to change: leftovers are still put back, and failing to is no reason
        // to refuse this run.
        _ => match io::reclaim_host_state() {
            Ok(notice) => (None, notice),
            Err(e) => (None, Some(e.to_string())),
        },
    };
    if let Some(n) = notice {
        say!("synprobe: {n}");
    }
    Ok(guard)
}

/// Privilege first (so an unprivileged user hears about CAP_NET_RAW, not about routes),
/// then a route per family, through one next hop: a sweep of many addresses on the local
/// link, each with its own MAC, is refused rather than sent to one host's MAC.
pub fn resolve(
    plan: &NetPlan,
    targets: &TargetSet,
) -> Result<(Paths, Option<LoopbackGuard>), CliError> {
    io::check_privilege()?;
    let (r4, r6) = representatives(targets);
    let v4 = r4
        .map(|t| sweep_path(plan, t, targets.v4_len()))
        .transpose()?;
    let v6 = r6
        .map(|t| sweep_path(plan, t, targets.v6_len()))
        .transpose()?;
    let paths = Paths { v4, v6 };
    one_link(&paths)?;
    let guard = loopback_guard(&paths)?;
    Ok((paths, guard))
}

/// The path for `count` targets of `t`'s family, refused when they are on the local link.
fn sweep_path(plan: &NetPlan, t: IpAddr, count: u64) -> Result<NetPath, CliError> {
    let on_link = || {
        CliError::Input(format!(
            "targets such as {t} are on the local link, each behind its own MAC, and a sweep goes through one next hop; \
             scan them from another network, use `check` for a few of them, or set --gateway-mac"
        ))
    };
    let sweep = count > 1 && plan.opts.gateway_mac.is_none();
    match io::find_path(t, &plan.opts_for(t)) {
        Ok(p) if sweep && io::is_on_link(t, &p.link) => Err(on_link()),
        Ok(p) => Ok(p),
        // The target itself was the next hop and did not answer ARP / NDP.
        Err(IoError::NoNeighbour(hop)) if sweep && hop == t => Err(on_link()),
        Err(e) => Err(e.into()),
    }
}
