//! `[gateway] trusted_proxies` and `client_address_header`, validated into
//! the `TrustedProxies` that say whose forwarding header is believed.

use crate::client_addr::{ForwardedHeader, TrustedProxies};

/// The proxies to believe: each a CIDR (`10.0.0.0/8`) or an address. A
/// prefix of length 0 would believe every client about its own address.
pub(super) fn validate(nets: &[String], header: Option<&str>) -> Result<TrustedProxies, (&'static str, String)> {
    let key = "gateway.trusted_proxies";
    let mut parsed = Vec::with_capacity(nets.len());
    for text in nets {
        let net = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                (
                    key,
                    format!("{text:?} is not an address or a CIDR such as \"10.0.0.0/8\""),
                )
            })?;
        if net.prefix_len() == 0 {
            return Err((key, format!("{text:?} would trust every client; name the proxies")));
        }
        parsed.push(net.trunc());
    }
    let header = match header.map(str::to_ascii_lowercase).as_deref() {
        None | Some("x-forwarded-for") => ForwardedHeader::XForwardedFor,
        Some("forwarded") => ForwardedHeader::Forwarded,
        Some(other) => {
            return Err((
                "gateway.client_address_header",
                format!("{other:?}: expected \"x-forwarded-for\" or \"forwarded\""),
            ))
        }
    };
    Ok(TrustedProxies::new(parsed, header))
}
