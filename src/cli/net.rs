//! Flags shared by every subcommand that sends: interface, addresses, source ports, and the
//! step that turns them into routes (after privilege is known to be there).

use std::net::IpAddr;

use clap::Args;

use super::{CliError, values};
use crate::cookie::SourcePorts;
use crate::io::{self, LoopbackGuard};
use crate::path::{AssembleError, Overrides, PathTable};
use crate::target::{IpRange, TargetSet};

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
    /// Let this host's kernel answer SYN-ACKs with RSTs of its own. By default synprobe
    /// hides SYN-ACKs to its source ports from the kernel for the run (its own RST tears
    /// every open port down; on-link, each kernel RST would cost an ARP exchange).
    #[arg(long)]
    pub kernel_resets: bool,
}

/// The network flags, parsed but not yet looked up.
#[derive(Debug, Clone)]
pub struct NetPlan {
    pub opts: Overrides,
    pub source_ports: SourcePorts,
    /// Hide SYN-ACKs from the kernel (see `NetArgs::kernel_resets`).
    pub shield: bool,
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
            opts: Overrides {
                interface: self.interface.clone(),
                source_ip,
                gateway_mac,
            },
            source_ports,
            shield: !self.kernel_resets,
        })
    }
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
}

/// Put back what a killed run left on this host, then turn on what a 127/8 probe needs
/// for the run; keep the guard alive until the run ends.
pub fn loopback_guard(paths: &PathTable) -> Result<Option<LoopbackGuard>, CliError> {
    let v4_on_lo = paths
        .spans()
        .iter()
        .filter_map(|s| s.exit)
        .any(|e| e.src_ip.is_ipv4() && paths.links()[e.link].loopback);
    let (guard, notice) = match v4_on_lo {
        true => {
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

/// The run's ways out, and the targets with none.
pub struct Routes {
    pub paths: PathTable,
    /// Target ranges without a route, and why.
    pub no_route: Vec<(IpRange, String)>,
    /// On-link targets whose MAC the kernel already knows.
    pub known_macs: Vec<(u64, [u8; 6])>,
    /// Held for the run, never read: it restores the loopback settings when dropped.
    #[allow(dead_code)]
    pub loopback: Option<LoopbackGuard>,
}

/// Privilege first (so an unprivileged user hears about CAP_NET_RAW, not about routes),
/// then every target's route as the kernel would send it: its interface, source address
/// and next hop (a gateway's MAC, or on-link: resolved by the run itself).
pub fn resolve(plan: &NetPlan, targets: &TargetSet) -> Result<Routes, CliError> {
    io::check_privilege()?;
    let a = io::route_targets(targets, &plan.opts).map_err(|e| match e {
        AssembleError::Input(m) => CliError::Input(m),
        AssembleError::Resolve(e) => e.into(),
    })?;
    for w in &a.warnings {
        say!("synprobe: warning: {w}");
    }
    let loopback = loopback_guard(&a.table)?;
    // Not knowing them only costs a request each.
    let known_macs = match a.table.on_link(targets.len()).next() {
        Some(_) => {
            let entries = io::neighbour_entries().unwrap_or_default();
            let entries = entries
                .iter()
                .filter_map(|e| Some((e.ifindex, e.ip, e.usable_mac()?)));
            a.table.known_macs(|ip| targets.index_of(ip), entries)
        }
        None => Vec::new(),
    };
    Ok(Routes {
        paths: a.table,
        no_route: a.no_route,
        known_macs,
        loopback,
    })
}

/// Every target's route as `resolve` finds it, without privilege and without a packet (a
/// gateway's MAC only from the neighbour table): for `scan --dry-run`.
pub fn quiet_routes(
    plan: &NetPlan,
    targets: &TargetSet,
) -> Result<(PathTable, Vec<(IpRange, String)>), CliError> {
    let a = io::route_targets_quietly(targets, &plan.opts).map_err(|e| match e {
        AssembleError::Input(m) => CliError::Input(m),
        AssembleError::Resolve(e) => e.into(),
    })?;
    for w in &a.warnings {
        say!("synprobe: warning: {w}");
    }
    Ok((a.table, a.no_route))
}

/// One line naming the targets with no route: the first few ranges and a count.
pub fn no_route_line(no_route: &[(IpRange, String)]) -> Option<String> {
    const SHOWN: usize = 3;
    if no_route.is_empty() {
        return None;
    }
    let show = |(r, why): &(IpRange, String)| {
        if r.first() == r.last() {
            format!("{} ({why})", r.first())
        } else {
            format!("{}-{} ({why})", r.first(), r.last())
        }
    };
    let total: u128 = no_route
        .iter()
        .map(|(r, _)| r.len().unwrap_or(u128::MAX))
        .fold(0, u128::saturating_add);
    let mut line: Vec<String> = no_route.iter().take(SHOWN).map(show).collect();
    if no_route.len() > SHOWN {
        let more = no_route.len() - SHOWN;
        line.push(format!(
            "and {more} more range{}",
            if more == 1 { "" } else { "s" }
        ));
    }
    Some(format!(
        "no route to {total} target address{}, not probed: {}",
        if total == 1 { "" } else { "es" },
        line.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_route_names_the_first_few() {
        let r = |a: &str, b: &str| {
            (
                IpRange::new(a.parse().unwrap(), b.parse().unwrap()).unwrap(),
                "no route".to_string(),
            )
        };
        assert_eq!(no_route_line(&[]), None);
        assert_eq!(
            no_route_line(&[r("203.0.113.7", "203.0.113.7")]).unwrap(),
            "no route to 1 target address, not probed: 203.0.113.7 (no route)"
        );
        let many = [
            r("203.0.113.0", "203.0.113.9"),
            r("203.0.113.20", "203.0.113.20"),
            r("203.0.113.30", "203.0.113.31"),
            r("203.0.113.40", "203.0.113.40"),
        ];
        let line = no_route_line(&many).unwrap();
        assert!(
            line.starts_with("no route to 14 target addresses"),
            "{line}"
        );
        assert!(line.ends_with("and 1 more range"), "{line}");
    }
}
