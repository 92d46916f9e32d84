//! Where outbound requests (webhooks, media servers, login-cookie apps) may go. Loopback,
//! link-local, metadata and other special addresses are refused unless the owner's
//! allow-list (OUTBOUND_ALLOW, else the security setting `outbound_allow`) names them;
//! public and LAN addresses and the configured media servers are allowed. The check runs
//! inside ureq's resolver, on the very addresses the connection will use, so a host name
//! that resolves differently at connect time (DNS rebinding) cannot slip past it, and a
//! redirect, were one followed, would pass through it again.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, RwLock};

use ureq::Agent;
use ureq::config::ConfigBuilder;
use ureq::http::Uri;
use ureq::typestate::AgentScope;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use url::Url;

use crate::net::Cidr;

/// The kinds of address refused unless the allow-list names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Loopback,
    LinkLocal,
    /// Cloud instance metadata (credentials live there): only an exact entry allows it.
    Metadata,
    Unspecified,
    Multicast,
    Broadcast,
    Reserved,
}

impl Special {
    pub fn label(self) -> &'static str {
        match self {
            Special::Loopback => "loopback address",
            Special::LinkLocal => "link-local address",
            Special::Metadata => "cloud metadata address",
            Special::Unspecified => "unspecified address",
            Special::Multicast => "multicast address",
            Special::Broadcast => "broadcast address",
            Special::Reserved => "reserved address",
        }
    }
}

/// AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba.
const METADATA: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

/// What kind of special address `ip` is; None for public and private (LAN) addresses.
pub fn special(ip: IpAddr) -> Option<Special> {
    let ip = embedded_v4(ip);
    if METADATA.contains(&ip) {
        return Some(Special::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback() {
                Some(Special::Loopback)
            } else if v4.octets()[0] == 0 {
                // 0.0.0.0/8 "this network": 0.0.0.0 reaches the local host on Linux.
                Some(Special::Unspecified)
            } else if v4.is_link_local() {
                Some(Special::LinkLocal)
            } else if v4.is_broadcast() {
                Some(Special::Broadcast)
            } else if v4.is_multicast() {
                Some(Special::Multicast)
            } else if v4.octets()[0] >= 240 {
                Some(Special::Reserved)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                Some(Special::Loopback)
            } else if v6.is_unspecified() {
                Some(Special::Unspecified)
            } else if v6.segments()[0] & 0xffc0 == 0xfe80 {
                Some(Special::LinkLocal)
            } else if v6.is_multicast() {
                Some(Special::Multicast)
            } else {
                None
            }
        }
    }
}

/// IPv4 carried in IPv6 (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64
/// 64:ff9b::a.b.c.d) is judged as that IPv4 address: ::ffff:127.0.0.1 is loopback.
fn embedded_v4(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if v6.is_loopback() || v6.is_unspecified() {
        return ip;
    }
    if let Some(v4) = v6.to_ipv4() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return IpAddr::V4(Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7])));
    }
    ip
}

/// Why a destination was refused; the message tells the owner what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub Special);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "destination not allowed ({}); add it to OUTBOUND_ALLOW",
            self.0.label()
        )
    }
}

impl std::error::Error for Refused {}

/// The refusal inside a ureq error, if that is what stopped the request.
pub fn refusal(e: &ureq::Error) -> Option<Refused> {
    match e {
        ureq::Error::Other(inner) => inner.downcast_ref::<Refused>().copied(),
        _ => None,
    }
}

/// A ureq error for people: a refusal reads as such, not as "other: ...".
pub fn describe(e: &ureq::Error) -> String {
    refusal(e).map_or_else(|| e.to_string(), |r| r.to_string())
}

/// The owner's allow-list: addresses and ranges, and host names whose every address
/// is allowed (a name is trusted for what it resolves to; metadata excepted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Cidr>,
    hosts: Vec<String>,
}

impl AllowList {
    /// Entries like `127.0.0.1/32`, `::1`, `[::1]`, `ntfy.lan`; the error names the bad one.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<AllowList, String> {
        let mut list = AllowList::default();
        for raw in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
            let bare = raw
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .unwrap_or(raw);
            if let Some(net) = Cidr::parse(bare) {
                list.nets.push(net);
            } else if is_host_name(bare) {
                list.hosts.push(host_key(bare));
            } else {
                return Err(format!(
                    "{raw:?} is not a host name, IP address or CIDR range (no scheme, port or path)"
                ));
            }
        }
        Ok(list)
    }

    /// A comma list, as OUTBOUND_ALLOW gives it.
    pub fn parse_list(s: &str) -> Result<AllowList, String> {
        AllowList::parse(s.split(','))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// An entry that is this one address: what a metadata address needs.
    fn names_exactly(&self, ip: IpAddr) -> bool {
        let ip = embedded_v4(ip);
        self.nets.iter().any(|n| n.single() == Some(ip))
    }
}

fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A host as compared: lowercase, no IPv6 brackets, no trailing dot.
fn host_key(host: &str) -> String {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
}

/// The host of a URL when it is an IP address.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// `host:port` of a URL, as the resolver will see it.
fn origin_of(url: &Url) -> Option<(String, u16)> {
    Some((host_key(url.host_str()?), url.port_or_known_default()?))
}

/// The rules in force: the allow-list, and the media servers the owner configured
/// (trusted by host and port, so a Jellyfin on 127.0.0.1:8096 keeps working without
/// opening every port of 127.0.0.1).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: AllowList,
    named: Vec<(String, u16)>,
}

impl Policy {
    pub fn new<'a>(allow: AllowList, named: impl IntoIterator<Item = &'a Url>) -> Policy {
        Policy {
            allow,
            named: named.into_iter().filter_map(origin_of).collect(),
        }
    }

    /// Whether a request for `host:port` may connect to `ip`.
    pub fn check(&self, host: &str, port: u16, ip: IpAddr) -> Result<(), Refused> {
        let Some(kind) = special(ip) else {
            return Ok(());
        };
        let allowed = if kind == Special::Metadata {
            self.allow.names_exactly(ip)
        } else {
            let host = host_key(host);
            self.allow.contains(ip)
                || self.allow.hosts.contains(&host)
                || self.named.iter().any(|(h, p)| *h == host && *p == port)
        };
        if allowed { Ok(()) } else { Err(Refused(kind)) }
    }

    /// For a URL whose host is an IP literal, the refusal known before any lookup (so a
    /// form can say so at once). Host names are judged when they are resolved.
    pub fn check_literal(&self, url: &Url) -> Result<(), Refused> {
        let Some(ip) = literal_ip(url) else {
            return Ok(());
        };
        let (host, port) = origin_of(url).unwrap_or_default();
        self.check(&host, port, ip)
    }
}

/// The configured media servers' URLs, plex.tv's API among them: always allowed.
pub fn server_urls<'a>(
    plex_api: &'a Url,
    servers: [Option<&'a crate::config::MediaServerConfig>; 2],
) -> impl Iterator<Item = &'a Url> {
    std::iter::once(plex_api).chain(servers.into_iter().flatten().map(|s| &s.url))
}

/// The policy in force, shared by every agent and replaced when the settings change.
#[derive(Clone, Default)]
pub struct Outbound(Arc<RwLock<Arc<Policy>>>);

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Outbound").field(&self.policy()).finish()
    }
}

impl Outbound {
    pub fn new(policy: Policy) -> Outbound {
        Outbound(Arc::new(RwLock::new(Arc::new(policy))))
    }

    pub fn set(&self, policy: Policy) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }

    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// An agent whose every connection is checked against the policy in force then.
    pub fn agent(&self, config: ConfigBuilder<AgentScope>) -> Agent {
        self.agent_also_naming(config, None)
    }

    /// The same, also trusting `url`'s host and port: the setup wizard asks a media
    /// server the owner is naming before it becomes the configured one.
    pub fn agent_naming(&self, config: ConfigBuilder<AgentScope>, url: &Url) -> Agent {
        self.agent_also_naming(config, origin_of(url))
    }

    fn agent_also_naming(
        &self,
        config: ConfigBuilder<AgentScope>,
        also: Option<(String, u16)>,
    ) -> Agent {
        // No proxy from the environment: a proxy resolves names itself, where this
        // check cannot see the address it connects to.
        let config = config.proxy(None).build();
        let guard = Guard {
            outbound: self.clone(),
            also,
        };
        Agent::with_parts(config, DefaultConnector::default(), guard)
    }
}

/// The resolver: the system's lookup, then only the addresses the policy allows.
#[derive(Debug)]
struct Guard {
    outbound: Outbound,
    also: Option<(String, u16)>,
}

impl Resolver for Guard {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let found = DefaultResolver::default().resolve(uri, config, timeout)?;
        let host = host_key(uri.host().unwrap_or(""));
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let named = self
            .also
            .as_ref()
            .is_some_and(|(h, p)| *h == host && *p == port);
        let policy = self.outbound.policy();
        let mut kept = self.empty();
        let mut refused = None;
        for addr in found.iter() {
            match policy.check(&host, port, addr.ip()) {
                Ok(()) => kept.push(*addr),
                Err(Refused(kind)) if named && kind != Special::Metadata => kept.push(*addr),
                Err(r) => refused = Some(r),
            }
        }
        match refused {
            Some(r) if kept.is_empty() => Err(ureq::Error::Other(Box::new(r))),
            _ => Ok(kept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn special_addresses_are_named_and_lan_and_public_are_not() {
        for (addr, kind) in [
            ("127.0.0.1", Special::Loopback),
            ("127.9.8.7", Special::Loopback),
            ("::1", Special::Loopback),
            ("::ffff:127.0.0.1", Special::Loopback),
            ("::127.0.0.1", Special::Loopback),
            ("64:ff9b::7f00:1", Special::Loopback),
            ("169.254.1.1", Special::LinkLocal),
            ("fe80::1", Special::LinkLocal),
            ("febf::1", Special::LinkLocal),
            ("169.254.169.254", Special::Metadata),
            ("::ffff:169.254.169.254", Special::Metadata),
            ("fd00:ec2::254", Special::Metadata),
            ("100.100.100.200", Special::Metadata),
            ("0.0.0.0", Special::Unspecified),
            ("0.1.2.3", Special::Unspecified),
            ("::", Special::Unspecified),
            ("224.0.0.1", Special::Multicast),
            ("ff02::1", Special::Multicast),
            ("255.255.255.255", Special::Broadcast),
            ("240.0.0.1", Special::Reserved),
        ] {
            assert_eq!(special(ip(addr)), Some(kind), "{addr}");
        }
        for addr in [
            "8.8.8.8",
            "10.0.0.5",
            "192.168.1.10",
            "172.16.0.1",
            "100.64.0.1",
            "fd12:3456::1",
            "2606:4700::1111",
            "::ffff:192.168.1.10",
            "fec0::1",
        ] {
            assert_eq!(special(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn defaults_refuse_special_addresses_and_allow_the_rest() {
        let p = Policy::default();
        assert_eq!(
            p.check("127.0.0.1", 80, ip("127.0.0.1")),
            Err(Refused(Special::Loopback))
        );
        assert_eq!(
            p.check("localhost", 22, ip("::1")),
            Err(Refused(Special::Loopback))
        );
        assert!(p.check("nas.lan", 80, ip("192.168.1.2")).is_ok());
        assert!(p.check("example.com", 443, ip("93.184.216.34")).is_ok());
        assert_eq!(
            Refused(Special::Loopback).to_string(),
            "destination not allowed (loopback address); add it to OUTBOUND_ALLOW"
        );
    }

    #[test]
    fn the_allow_list_opens_addresses_ranges_and_names() {
        let allow =
            AllowList::parse_list("127.0.0.1/32, [::1], NTFY.lan., 169.254.0.0/16").unwrap();
        let p = Policy::new(allow, []);
        assert!(p.check("x", 1, ip("127.0.0.1")).is_ok());
        assert!(p.check("x", 1, ip("::ffff:127.0.0.1")).is_ok());
        assert!(p.check("x", 1, ip("::1")).is_ok());
        assert!(p.check("x", 1, ip("127.0.0.2")).is_err());
        assert!(p.check("ntfy.lan", 1, ip("127.0.0.2")).is_ok());
        assert!(p.check("NTFY.LAN.", 1, ip("127.0.0.2")).is_ok());
        assert!(p.check("x", 1, ip("169.254.3.4")).is_ok());
        // A range (or a name) never opens the metadata address; only the address itself.
        assert_eq!(
            p.check("ntfy.lan", 80, ip("169.254.169.254")),
            Err(Refused(Special::Metadata))
        );
        let exact = Policy::new(AllowList::parse_list("169.254.169.254").unwrap(), []);
        assert!(exact.check("x", 80, ip("169.254.169.254")).is_ok());
        let everything = Policy::new(AllowList::parse_list("0.0.0.0/0,::/0").unwrap(), []);
        assert!(everything.check("x", 80, ip("127.0.0.1")).is_ok());
        assert!(everything.check("x", 80, ip("169.254.169.254")).is_err());
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "127.0.0.1:8080",
            "http://ntfy.lan",
            "10.0.0.0/33",
            "a b",
            "x/y",
        ] {
            let e = AllowList::parse_list(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert_eq!(AllowList::parse_list(" , ").unwrap(), AllowList::default());
    }

    #[test]
    fn media_servers_are_trusted_by_host_and_port() {
        let p = Policy::new(
            AllowList::default(),
            [&url("http://127.0.0.1:8096/jf"), &url("http://LocalHost")],
        );
        assert!(p.check("127.0.0.1", 8096, ip("127.0.0.1")).is_ok());
        assert!(p.check("127.0.0.1", 22, ip("127.0.0.1")).is_err());
        assert!(p.check("localhost", 80, ip("::1")).is_ok());
        assert!(p.check("localhost", 8080, ip("::1")).is_err());
    }

    #[test]
    fn literal_urls_are_judged_before_any_lookup() {
        let p = Policy::default();
        for u in [
            "http://127.0.0.1:9/x",
            "http://[::1]:22/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0.0.0.0:8089/",
        ] {
            assert!(p.check_literal(&url(u)).is_err(), "{u}");
        }
        for u in [
            "http://localhost/",
            "https://hooks.example.com/x",
            "http://10.1.2.3/",
        ] {
            assert!(p.check_literal(&url(u)).is_ok(), "{u}");
        }
    }

    #[test]
    fn the_resolver_drops_refused_addresses_and_says_why() {
        let outbound = Outbound::new(Policy::default());
        let agent = outbound.agent(Agent::config_builder().http_status_as_error(false));
        let e = agent.get("http://localhost:9/").call().unwrap_err();
        assert_eq!(refusal(&e), Some(Refused(Special::Loopback)), "{e}");
        assert_eq!(
            describe(&e),
            "destination not allowed (loopback address); add it to OUTBOUND_ALLOW"
        );
        // The policy is read at each connection: a change applies to existing agents.
        outbound.set(Policy::new(AllowList::parse_list("localhost").unwrap(), []));
        let e = agent.get("http://localhost:9/").call().unwrap_err();
        assert_eq!(refusal(&e), None, "{e}");
    }
}
