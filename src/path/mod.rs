//! Every target through its own route, as the kernel would send it: the destinations are
//! split at route boundaries and grouped by path (interface, source address, next hop), with
//! the kernel asked once per region, not once per address. Pure: the kernel's answers come
//! in through a lookup function (`io::RouteSocket` in production, `StaticFib` in tests).
//!
//! # Asking the kernel
//! `RTM_GETROUTE` for one destination is what `ip route get DST` sends, so `ip rule` policy
//! tables, source selection, metrics and on-link routes are honoured as it honours them
//! (rules that select by something other than the destination see what `ip route get`
//! without options would: no mark, no ports, the caller's uid). Measured on Linux 6.18 for
//! IPv4 and IPv6 (the captures in `netlink_msg`'s tests):
//! - plain (`RTM_F_LOOKUP_TABLE`): the resolved route: output interface (`lo` for a local
//!   address), gateway, the selected source (RTA_PREFSRC), the table; RTA_DST is the address.
//! - with `RTM_F_FIB_MATCH`: the FIB entry: the matched prefix and table, the gateway and
//!   the entry's own device (not `lo` for a local address), but no source unless the route
//!   sets one (`src`); a gateway route has none.
//!
//! So a lookup asks both (two round trips): the prefix from the second, the rest from the
//! first. Unreachable, blackhole and prohibit routes, and no route at all, are NLMSG_ERROR
//! with EHOSTUNREACH, EINVAL, EACCES, ENETUNREACH in both variants: `NoRoute`.
//!
//! # Where the answer can change: regions
//! The matched prefix alone is not enough to reuse an answer: a longer prefix can start
//! inside it after the address that was asked (a /24 inside a /16). So the planner also
//! takes the prefixes of every route of every table and of every `ip rule ... to` selector
//! (two netlink dumps, once per scan; `RouteSocket::boundary_prefixes`). CIDR prefixes nest
//! or are disjoint, so the prefixes covering an address form a chain fixed by its innermost
//! member; addresses with the same innermost prefix (or none) are covered by the same routes
//! in every table and picked by the same destination rules, so the kernel answers them
//! alike. That innermost prefix is a *region* (`regions.rs`), the cache key: a region
//! continues after a nested prefix ends (the /16's addresses on both sides of its /24 share
//! one lookup).
//!
//! The walk (`planner.rs`): at address `a` of a target range, find `a`'s region and where it
//! ends (the innermost prefix ends or the next prefix starts: one binary search plus a walk
//! up the nesting, at most 33 / 129 steps); take the region's cached answer or ask; the
//! block runs to the region's end, the range's end or the matched prefix's end, whichever
//! comes first; continue after it. Cost: one lookup (two round trips) per region met, so at
//! most (prefixes intersecting the targets + 1); a /8 over a table of 1,000 prefixes takes
//! at most 1,001 lookups, and the walk O((ranges + prefixes) log prefixes). A dump of a
//! full Internet table (~1M routes) is read once, in memory ~40 bytes a prefix.
//!
//! Known limits, both at sub-region granularity: a multipath route's next hop is the one
//! the kernel picks for the region's first address (per-flow hashing is not followed), and
//! IPv6 source selection that differs by destination within one region (several global
//! addresses on one interface, RFC 6724 rule 8) takes the first address's choice.

mod assemble;
mod fib;
pub mod neigh_msg;
pub mod netlink_msg;
mod planner;
mod regions;
mod route;
mod table;
#[cfg(test)]
mod test_util;

pub use assemble::{AssembleError, Assembled, Overrides, Resolver, assemble};
pub use fib::{Entry, StaticFib};
pub use neigh_msg::NeighbourEntry;
pub use planner::{Block, PathBlocks, Plan, Unroutable, plan};
pub use regions::Boundaries;
pub use route::{NextHop, NoRoute, PathKey, Prefix, Route, RouteAnswer, RouteKind};
pub use table::{Exit, Hop, Link, PathTable, Span};
