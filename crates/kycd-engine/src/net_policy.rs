//! Where kycd may send requests on a tenant's behalf (webhooks, callback URLs): in live
//! mode only https, and never to loopback, private, link-local (cloud metadata), CGNAT,
//! multicast or unspecified addresses, nor to IPv6 addresses that carry an IPv4 address
//! inside them (mapped, compatible, translated, 6to4, Teredo, ISATAP, NAT64), which could
//! lead to any of those. Test mode takes http and loopback receivers too (a developer's
//! own machine), nothing else outside the live rules (and a name that does not resolve
//! yet: nothing can be reached there until it does). Checked when a URL is registered
//! and again at delivery, on the addresses the name resolves to then (DNS may change), and
//! the request is pinned to the checked address so a second lookup cannot swap it.

use kycd_core::Mode;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Loopback, the one kind of internal address test mode accepts.
fn loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // CGNAT 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
        || o[0] >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let low_v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated, SIIT): as the IPv4 address.
        || (s[..5] == [0; 5] && s[5] == 0xffff && forbidden_v4(low_v4))
        || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
        // ::/96, IPv4-compatible (deprecated, never a public receiver).
        || s[..6] == [0; 6]
        || s[0] == 0x2002 // 6to4: an IPv4 address in bits 16-48
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: IPv4 server and client inside
        || (s[4] & 0xfdff == 0 && s[5] == 0x5efe) // ISATAP interface id: an IPv4 address last
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
        || (s[0] == 0x0100 && s[1..4] == [0; 3]) // discard-only 100::/64
        || (s[0] & 0xfe00) == 0xfc00 // unique local (includes fd00:ec2::254 metadata)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("'{0}' is not an absolute http(s) URL")]
    NotUrl(String),
    #[error("live mode requires an https URL")]
    NotHttps,
    #[error("the URL must not contain a user name or password")]
    Credentials,
    #[error("the host {0} could not be resolved")]
    Unresolvable(String),
    #[error("the host {host} resolves to {ip}, a loopback, private, link-local or otherwise internal address; use a public address")]
    Internal { host: String, ip: IpAddr },
}

/// Parse and check a target URL; returns it with the address to connect to. Test mode
/// also takes `http` and loopback addresses (a receiver on the developer's machine).
pub async fn check_target(raw: &str, mode: Mode) -> Result<(reqwest::Url, Option<SocketAddr>), UrlRefused> {
    let url = reqwest::Url::parse(raw).map_err(|_| UrlRefused::NotUrl(raw.chars().take(200).collect()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(UrlRefused::NotUrl(raw.chars().take(200).collect()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused::Credentials);
    }
    if mode == Mode::Live && url.scheme() != "https" {
        return Err(UrlRefused::NotHttps);
    }
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| UrlRefused::Unresolvable(host.clone()))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(UrlRefused::Unresolvable(host));
    }
    let allowed = |ip: IpAddr| !forbidden_ip(ip) || (mode == Mode::Test && loopback(ip));
    if let Some(bad) = addrs.iter().find(|a| !allowed(a.ip())) {
        return Err(UrlRefused::Internal { host, ip: bad.ip() });
    }
    Ok((url, addrs.first().copied()))
}

/// [`check_target`] for a URL being registered: test mode also takes a name that does not
/// resolve (yet), as there is nothing to reach; each delivery checks it again, strictly,
/// on the addresses it resolves to then.
pub async fn check_registration(raw: &str, mode: Mode) -> Result<reqwest::Url, UrlRefused> {
    match check_target(raw, mode).await {
        Ok((url, _)) => Ok(url),
        Err(UrlRefused::Unresolvable(_)) if mode == Mode::Test => {
            reqwest::Url::parse(raw).map_err(|_| UrlRefused::NotUrl(raw.chars().take(200).collect()))
        }
        Err(e) => Err(e),
    }
}

/// The client for one request to a checked target: pinned to the checked address (when
/// there is one), no redirects (a redirect could lead anywhere), a timeout.
pub(crate) fn outbound_client(
    url: &reqwest::Url,
    pinned: Option<SocketAddr>,
    timeout: std::time::Duration,
    user_agent: &'static str,
) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent);
    if let (Some(addr), Some(host)) = (pinned, url.host_str()) {
        builder = builder.resolve(host, addr);
    }
    builder.build()
}

/// How one delivery attempt went: `Ok(status)` on 2xx, else the status (if any) and what
/// went wrong, for the delivery log (never the URL: it may carry the receiver's tokens).
pub(crate) type Delivered = Result<u16, (Option<u16>, String)>;

/// The delivery log's one text for a request that got no HTTP answer: a closed port, a
/// refused or reset connection, a TLS failure and a timeout read alike, so the log cannot
/// serve as a port scanner.
pub(crate) const NO_ANSWER: &str = "no HTTP answer: the receiver could not be reached, or did not answer within the timeout";

/// Send a request built on [`outbound_client`]; `receiver` names it in a failure.
pub(crate) async fn send(req: reqwest::RequestBuilder, receiver: &str) -> Delivered {
    let resp = req.send().await.map_err(|_| (None, NO_ANSWER.to_owned()))?;
    let code = resp.status().as_u16();
    if resp.status().is_success() {
        Ok(code)
    } else {
        Err((Some(code), format!("{receiver} answered {code}")))
    }
}

/// The delivery log's words for a URL refused at delivery time (it resolved to an
/// internal address since it was registered): no address, which would map the network.
pub(crate) fn refused_at_delivery(e: &UrlRefused) -> String {
    match e {
        UrlRefused::Internal { .. } => "refused: the host now resolves to an address kycd does not send to".into(),
        other => format!("refused: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_forbidden_and_public_ones_allowed() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            // IPv4 inside IPv6: compatible, translated, 6to4, Teredo, ISATAP, NAT64.
            "::127.0.0.1",
            "::10.0.0.1",
            "::a9fe:a9fe",
            "::ffff:0:10.0.0.1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::5efe:10.0.0.1",
            "fe80::5efe:169.254.169.254",
            "2600::200:5efe:a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::a00:1",
            "fec0::1",
            "100::1",
        ] {
            assert!(forbidden_ip(bad.parse().unwrap()), "{bad} must be refused");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "93.184.216.34",
            "::ffff:93.184.216.34",
            "2a00:1450:4001:80b::200e",
        ] {
            assert!(!forbidden_ip(good.parse().unwrap()), "{good} must be allowed");
        }
    }

    #[tokio::test]
    async fn live_mode_refuses_http_internal_and_credentials() {
        assert_eq!(
            check_target("http://example.com/h", Mode::Live).await.unwrap_err(),
            UrlRefused::NotHttps
        );
        assert_internal(
            Mode::Live,
            &[
                "https://127.0.0.1/h",
                "https://[::1]:8443/h",
                "https://localhost/h",
                "https://[2002:a9fe:a9fe::1]/h",
                "https://[::a9fe:a9fe]/h",
            ],
        )
        .await;
        assert_eq!(
            check_target("https://u:p@93.184.216.34/", Mode::Live).await.unwrap_err(),
            UrlRefused::Credentials
        );
        assert!(check_target("https://93.184.216.34/hook", Mode::Live).await.is_ok());
        assert!(check_target("ftp://x/", Mode::Test).await.is_err());
    }

    #[tokio::test]
    async fn test_mode_adds_http_and_loopback_and_nothing_else() {
        for ok in [
            "http://127.0.0.1:9/h",
            "http://[::1]:9/h",
            "http://localhost:9/h",
            "http://93.184.216.34/h",
        ] {
            assert!(check_target(ok, Mode::Test).await.is_ok(), "{ok}");
        }
        assert_internal(
            Mode::Test,
            &[
                "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.1/h",
                "http://192.168.1.1/h",
                "http://[fd00::1]/h",
                "http://[::ffff:10.0.0.1]/h",
                "http://[2002:a9fe:a9fe::1]/h",
                "http://0.0.0.0:9/h",
            ],
        )
        .await;
    }

    /// Every one of `urls` is refused in `mode` as an internal address.
    async fn assert_internal(mode: Mode, urls: &[&str]) {
        for url in urls {
            assert!(
                matches!(check_target(url, mode).await, Err(UrlRefused::Internal { .. })),
                "{url} must be refused as internal in {mode:?} mode"
            );
        }
    }
}
