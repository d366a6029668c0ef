//! Where kycd may send requests on a tenant's behalf (webhooks, callback URLs): in live
//! mode only https, and never to loopback, private, link-local (cloud metadata), CGNAT,
//! multicast or unspecified addresses. Checked when a URL is registered and again at
//! delivery, on the addresses the name resolves to then (DNS may change), and the request
//! is pinned to the checked address so a second lookup cannot swap it.

use kycd_core::Mode;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
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
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local (includes fd00:ec2::254 metadata)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 to IPv4 (could reach private v4)
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

/// Parse and check a target URL; returns it with the address to connect to (None in test
/// mode, where loopback receivers are allowed and normal resolution is used).
pub async fn check_target(raw: &str, mode: Mode) -> Result<(reqwest::Url, Option<SocketAddr>), UrlRefused> {
    let url = reqwest::Url::parse(raw).map_err(|_| UrlRefused::NotUrl(raw.chars().take(200).collect()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(UrlRefused::NotUrl(raw.chars().take(200).collect()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused::Credentials);
    }
    if mode == Mode::Test {
        return Ok((url, None));
    }
    if url.scheme() != "https" {
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
    if let Some(bad) = addrs.iter().find(|a| forbidden_ip(a.ip())) {
        return Err(UrlRefused::Internal { host, ip: bad.ip() });
    }
    Ok((url, addrs.first().copied()))
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

/// Send a request built on [`outbound_client`]; `receiver` names it in a failure.
pub(crate) async fn send(req: reqwest::RequestBuilder, timeout_secs: u64, receiver: &str) -> Delivered {
    let resp = req.send().await.map_err(|e| {
        (
            None,
            if e.is_timeout() {
                format!("timed out after {timeout_secs} s")
            } else {
                format!("connection failed: {}", e.without_url())
            },
        )
    })?;
    let code = resp.status().as_u16();
    if resp.status().is_success() {
        Ok(code)
    } else {
        Err((Some(code), format!("{receiver} answered {code}")))
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
        ] {
            assert!(forbidden_ip(bad.parse().unwrap()), "{bad} must be refused");
        }
        for good in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"] {
            assert!(!forbidden_ip(good.parse().unwrap()), "{good} must be allowed");
        }
    }

    #[tokio::test]
    async fn live_mode_refuses_http_internal_and_credentials() {
        assert_eq!(
            check_target("http://example.com/h", Mode::Live).await.unwrap_err(),
            UrlRefused::NotHttps
        );
        assert!(matches!(
            check_target("https://127.0.0.1/h", Mode::Live).await,
            Err(UrlRefused::Internal { .. })
        ));
        assert!(matches!(
            check_target("https://[::1]:8443/h", Mode::Live).await,
            Err(UrlRefused::Internal { .. })
        ));
        assert!(matches!(
            check_target("https://localhost/h", Mode::Live).await,
            Err(UrlRefused::Internal { .. })
        ));
        assert_eq!(
            check_target("https://u:p@93.184.216.34/", Mode::Live).await.unwrap_err(),
            UrlRefused::Credentials
        );
        assert!(check_target("https://93.184.216.34/hook", Mode::Live).await.is_ok());
        assert!(check_target("http://127.0.0.1:9/h", Mode::Test).await.is_ok());
        assert!(check_target("ftp://x/", Mode::Test).await.is_err());
    }
}
