//! Flags shared by every subcommand that sends: interface, addresses, source ports, and the
//! step that turns them into routes (after privilege is known to be there).

use std::net::IpAddr;

use clap::Args;

use super::{CliError, values};
use crate::cookie::SourcePorts;
use crate::engine::Paths;
use crate::io::{self, LoopbackGuard, PathOptions};
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

/// Privilege first (so an unprivileged user hears about CAP_NET_RAW, not about routes),
/// then a route per family. Keep the guard alive for the run: it restores the loopback
/// settings a 127/8 probe needs.
pub fn resolve(
    plan: &NetPlan,
    targets: &TargetSet,
) -> Result<(Paths, Option<LoopbackGuard>), CliError> {
    io::check_privilege()?;
    let (r4, r6) = representatives(targets);
    let mut opts4 = plan.opts.clone();
    let mut opts6 = plan.opts.clone();
    // A --source-ip of one family must not be applied to the other family's route.
    if let Some(ip) = plan.opts.source_ip {
        if ip.is_ipv4() {
            opts6.source_ip = None
        } else {
            opts4.source_ip = None
        }
    }
    let v4 = r4.map(|t| io::find_path(t, &opts4)).transpose()?;
    let v6 = r6.map(|t| io::find_path(t, &opts6)).transpose()?;
    if let (Some(a), Some(b)) = (&v4, &v6)
        && a.link != b.link
    {
        return Err(CliError::Input(format!(
            "IPv4 targets route through {} but IPv6 targets through {}; scan them separately or set --interface",
            a.link.name, b.link.name
        )));
    }
    let guard = match &v4 {
        Some(p) if p.link.loopback => io::enable_loopback_v4()?,
        _ => None,
    };
    Ok((Paths { v4, v6 }, guard))
}
