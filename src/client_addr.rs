//! Who the client is. Without trusted proxies it is the socket's peer and
//! every forwarding header is ignored, since any client can write one. Behind
//! a proxy every connection comes from the proxy, so the operator names the
//! proxies (`[gateway] trusted_proxies`) and the header they write; the chain
//! in that header is walked from the right, each hop written by the one after
//! it, and the first address that is not a trusted proxy is the client. What
//! stands left of it was written by the client and is never read.
//!
//! Limits are kept per network rather than per address where one holder
//! gets many addresses: an IPv6 client usually owns a whole /64.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// The header a trusted proxy writes the client's address in. Only one is
/// read: a proxy that maintains one passes the other through as the client
/// sent it, so believing both would believe the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=...`.
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> http::HeaderName {
        // A constant: `from_static` outside one parses the name every call.
        const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
        match self {
            ForwardedHeader::XForwardedFor => X_FORWARDED_FOR,
            ForwardedHeader::Forwarded => http::header::FORWARDED,
        }
    }
}

/// The proxies whose forwarding header is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>, header: ForwardedHeader) -> Self {
        TrustedProxies { nets, header }
    }

    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// Whether a request from `peer` may name its client: the forwarding
    /// header is read only then.
    pub fn trusts_peer(&self, peer: IpAddr) -> bool {
        self.trusts(peer.to_canonical())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client behind `peer`, given the values of the configured header
    /// in the order received. A hop that cannot be read (`unknown`, an
    /// obfuscated name, garbage) ends the walk at the last address known:
    /// guessing past it would let the writer of that hop choose.
    pub fn client<'a>(&self, peer: IpAddr, values: impl DoubleEndedIterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        for hop in values.rev().flat_map(|line| line.rsplit(',')) {
            let parsed = match self.header {
                ForwardedHeader::XForwardedFor => node(hop),
                ForwardedHeader::Forwarded => forwarded_for(hop),
            };
            match parsed {
                Some(ip) => client = ip.to_canonical(),
                None => break,
            }
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:80`.
fn node(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = t.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    t.strip_prefix('[')?
        .strip_suffix(']')?
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// The `for=` of one RFC 7239 element (`for=192.0.2.1;proto=https`,
/// `for="[2001:db8::1]:4711"`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let v = value.trim();
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
        node(v)
    })
}

/// An address as text, as `Display` writes it. Every request writes its
/// client's: an IPv4 address through `itoa` costs a tenth of `Display`'s
/// formatting machinery (BENCHMARKS.md).
pub fn text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(octet));
            }
            out
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
}

/// The key limits count a client under: the address itself for IPv4, its
/// /64 for IPv6, so a host cannot shed its count by picking a new address
/// out of its own network.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// `limit_key` of an address given as text; `None` if it is not one.
pub fn limit_key_of(text: &str) -> Option<IpAddr> {
    text.parse().ok().map(limit_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for a in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.0.9",
            "::1",
            "2001:db8::1",
        ] {
            assert_eq!(text(ip(a)), ip(a).to_string());
        }
        for n in (0..=u32::MAX).step_by(65_521) {
            let a = IpAddr::V4(n.into());
            assert_eq!(text(a), a.to_string());
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn behind(nets: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect(), header)
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), ["203.0.113.9"].into_iter()), ip("10.0.0.1"));
    }

    #[test]
    fn a_header_from_an_untrusted_peer_is_ignored() {
        let t = behind(&["10.0.0.0/8"], XFF);
        assert_eq!(t.client(ip("192.0.2.7"), ["203.0.113.9"].into_iter()), ip("192.0.2.7"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = behind(&["10.0.0.0/8"], XFF);
        let chain = ["198.51.100.1, 203.0.113.9", "10.0.0.2"];
        assert_eq!(t.client(ip("10.0.0.1"), chain.into_iter()), ip("203.0.113.9"));
    }

    #[test]
    fn a_chain_of_only_proxies_ends_at_its_leftmost() {
        let t = behind(&["10.0.0.0/8"], XFF);
        assert_eq!(
            t.client(ip("10.0.0.1"), ["10.0.0.3, 10.0.0.2"].into_iter()),
            ip("10.0.0.3")
        );
        assert_eq!(t.client(ip("10.0.0.1"), std::iter::empty()), ip("10.0.0.1"));
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk_at_the_proxy_that_wrote_it() {
        let t = behind(&["10.0.0.0/8"], XFF);
        assert_eq!(
            t.client(ip("10.0.0.1"), ["203.0.113.9, junk"].into_iter()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn forwarded_elements_with_ports_and_quoted_ipv6_are_read() {
        let t = behind(&["127.0.0.1/32"], ForwardedHeader::Forwarded);
        let v = r#"for=198.51.100.1;proto=http, For="[2001:db8:cafe::17]:4711";by=x"#;
        assert_eq!(t.client(ip("127.0.0.1"), [v].into_iter()), ip("2001:db8:cafe::17"));
        let v = r#"for="192.0.2.60:8080""#;
        assert_eq!(t.client(ip("127.0.0.1"), [v].into_iter()), ip("192.0.2.60"));
        assert_eq!(t.client(ip("127.0.0.1"), ["for=unknown"].into_iter()), ip("127.0.0.1"));
    }

    #[test]
    fn an_ipv4_mapped_peer_is_its_ipv4_address() {
        let t = behind(&["127.0.0.1/32"], XFF);
        assert_eq!(
            t.client(ip("::ffff:127.0.0.1"), ["192.0.2.5"].into_iter()),
            ip("192.0.2.5")
        );
    }

    #[test]
    fn ipv6_clients_are_limited_per_slash_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
