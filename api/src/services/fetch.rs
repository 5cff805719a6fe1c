//! Images by URL, fetched by the api at submission and then treated as uploads. The URL
//! is the caller's (as is a webhook's, which `webhooks` and `deliverer` pass through the
//! same guard), so the fetch is guarded against server-side request forgery: http and
//! https only, and no private, loopback, link-local or otherwise internal address,
//! checked after DNS resolution (the addresses checked are the ones connected to) and
//! again for every redirect; bounded in redirects, bytes and time; never through a
//! proxy (which would resolve names where the guard cannot see).

use crate::services::error::{echo, BadImage, UrlRefused};
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use stylize_core::images::ImageError;
use stylize_shared::config::FetchSettings;
use stylize_shared::error_chain;

/// Why an image URL gave no image.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Refused(#[from] UrlRefused),
    /// Fetched, and no image came: no connection, an error status, a broken answer.
    #[error("{field}: could not fetch the URL: {reason}")]
    Failed { field: String, reason: String },
    #[error(transparent)]
    Image(#[from] BadImage),
}

/// Why a URL or an address is not fetched.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub String);

/// Which addresses may be fetched from.
pub(crate) struct Guard {
    /// Networks an operator trusts although they are internal (an image store on the
    /// private network, say).
    allowed: Vec<IpNet>,
}

impl Guard {
    /// What kind of internal address `ip` is, unless it may be fetched from.
    fn check_address(&self, ip: IpAddr) -> Result<(), &'static str> {
        if self.allowed.iter().any(|network| network.contains(&ip)) {
            return Ok(());
        }
        match internal(ip) {
            Some(kind) => Err(kind),
            None => Ok(()),
        }
    }

    /// A client whose every connection passes the guard (names checked as they are
    /// resolved), following no redirect, through no proxy.
    pub fn client(self: &Arc<Self>, connect_timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(self.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .user_agent(concat!("stylize/", env!("CARGO_PKG_VERSION")))
    }

    /// The addresses `host` resolves to, every one of which must pass.
    async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
        for address in &addresses {
            // The kind, not the address: which internal address a name has is the
            // operator's business.
            self.check_address(address.ip())
                .map_err(|kind| Refused(format!("{host} resolves to {kind}")))?;
        }
        Ok(addresses)
    }

    /// Checks `url` as a request to it would be, its name resolved now: for a URL
    /// kept to be requested later (and checked again then).
    pub async fn check(&self, url: &Url) -> Result<(), Refused> {
        self.check_url(url)?;
        if let Some(url::Host::Domain(host)) = url.host() {
            self.resolve(host)
                .await
                .map_err(|error| match error.downcast::<Refused>() {
                    Ok(refused) => *refused,
                    Err(_) => Refused(format!("{host} does not resolve")),
                })?;
        }
        Ok(())
    }

    /// The scheme, and the host when it is an address; names are checked once
    /// resolved, by [`GuardedResolver`].
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!(
                "the scheme {:?} is not fetched; use http or https",
                echo(url.scheme())
            )));
        }
        let ip = match url.host() {
            None => return Err(Refused("the URL has no host".into())),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(_)) => return Ok(()),
        };
        self.check_address(ip)
            .map_err(|kind| Refused(format!("{ip} is {kind}")))
    }
}

/// What kind of internal address `ip` is; `None` for a public one. An IPv6 address that
/// carries an IPv4 one is as internal as that IPv4 address.
fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => internal_v4(ip),
        IpAddr::V6(ip) => {
            internal_v6(ip).or_else(|| embedded_v4(ip).into_iter().find_map(internal_v4))
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "in 0.0.0.0/8 (\"this network\")",
        (127, _, _) => "a loopback address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (169, 254, _) => "a link-local address (where cloud metadata services live)",
        (100, 64..=127, _) => "a carrier-grade NAT address",
        (192, 0, 0) => "an IETF protocol address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved or broadcast address",
        _ => return None,
    })
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some("the unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xffc0 == 0xfec0 {
        Some("a site-local address")
    } else if first & 0xff00 == 0xff00 {
        Some("a multicast address")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("a documentation address")
    } else if first == 0x64 && ip.segments()[1] == 0xff9b && ip.segments()[2] == 1 {
        // Where the IPv4 address sits depends on the network's prefix length, which
        // only its operator knows.
        Some("a local-use NAT64 address (64:ff9b:1::/48)")
    } else {
        None
    }
}

/// The IPv4 addresses inside an IPv6 one that may lead to them: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`), ISATAP (`…:0:5efe:a.b.c.d`), 6to4
/// (`2002:aabb:ccdd::`, the address in bits 16 to 48), and Teredo (`2001:0:…`: its
/// server in bits 32 to 64, its client inverted in the last 32).
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from(u32::from(hi) << 16 | u32::from(lo));
    let last = v4(s[6], s[7]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..]
        | [0, 0, 0, 0, 0xffff, 0, ..]
        | [0, 0, 0, 0, 0, 0, ..]
        | [0x64, 0xff9b, 0, 0, 0, 0, ..] => vec![last],
        [0x2002, hi, lo, ..] => vec![v4(hi, lo)],
        [0x2001, 0, hi, lo, ..] => vec![v4(hi, lo), !last],
        [.., id, 0x5efe, _, _] if id & 0xfdff == 0 => vec![last],
        _ => vec![],
    }
}

type ResolveError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves names for a guarded client and refuses any name with an internal address
/// among its answers.
struct GuardedResolver(Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let addresses: Addrs = Box::new(guard.resolve(name.as_str()).await?.into_iter());
            Ok(addresses)
        })
    }
}

pub struct Fetcher {
    client: reqwest::Client,
    /// Also the guard of webhooks.
    pub(crate) guard: Arc<Guard>,
    max_bytes: usize,
    max_redirects: usize,
    timeout: Duration,
}

impl Fetcher {
    pub fn new(settings: &FetchSettings, max_bytes: usize) -> anyhow::Result<Self> {
        let allowed = settings
            .allowed_networks
            .iter()
            .map(|network| {
                network.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "the setting fetch.allowed_networks (STYLIZE__FETCH__ALLOWED_NETWORKS) \
                         holds {network:?}, which is not a network such as 10.1.0.0/16"
                    )
                })
            })
            .collect::<Result<Vec<IpNet>, _>>()?;
        let guard = Arc::new(Guard { allowed });
        let timeout = Duration::from_secs(settings.timeout_seconds);
        // Redirects are followed by `fetch` itself, so each hop is checked and named.
        let client = guard.client(timeout.min(Duration::from_secs(5))).build()?;
        Ok(Fetcher {
            client,
            guard,
            max_bytes,
            max_redirects: settings.max_redirects,
            timeout,
        })
    }

    /// The bytes at `url`, for the form field `field`: the whole fetch, redirects and
    /// body included, within the time limit.
    pub async fn fetch(&self, field: &str, url: &str) -> Result<Vec<u8>, FetchError> {
        tokio::time::timeout(self.timeout, self.fetch_unbounded(field, url))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Failed {
                    field: field.to_owned(),
                    reason: format!("no complete answer within {} s", self.timeout.as_secs()),
                })
            })
    }

    async fn fetch_unbounded(&self, field: &str, url: &str) -> Result<Vec<u8>, FetchError> {
        let refused = |reason: String| {
            FetchError::Refused(UrlRefused {
                field: field.to_owned(),
                reason,
            })
        };
        let failed = |reason: String| FetchError::Failed {
            field: field.to_owned(),
            reason,
        };
        let mut url = Url::parse(url.trim()).map_err(|e| refused(format!("not a URL ({e})")))?;
        // Why a connection failed (refused, no route, timed out) says what is on the
        // far side of the api's network: that goes to the log, not to the caller.
        let logged = |reason: String, url: &Url, error: reqwest::Error| {
            let (url, error) = (without_secrets(url), error_chain(&error.without_url()));
            tracing::info!(%url, %error, "fetching an image URL");
            failed(reason)
        };
        let mut redirects = 0;
        let mut response = loop {
            // The caller knows only the first URL: say where a redirect led.
            let place = if redirects == 0 {
                String::new()
            } else {
                format!("a redirect to {}: ", echo(url.as_str()))
            };
            self.guard
                .check_url(&url)
                .map_err(|e| refused(format!("{place}{e}")))?;
            let response =
                self.client.get(url.clone()).send().await.map_err(|error| {
                    match refusal(&error) {
                        Some(reason) => refused(format!("{place}{reason}")),
                        None => logged(format!("{place}no connection or no answer"), &url, error),
                    }
                })?;
            let location = response.headers().get(reqwest::header::LOCATION);
            let (true, Some(location)) = (response.status().is_redirection(), location) else {
                break response;
            };
            redirects += 1;
            if redirects > self.max_redirects {
                return Err(refused(format!(
                    "more than {} redirects",
                    self.max_redirects
                )));
            }
            url = location
                .to_str()
                .ok()
                .and_then(|location| url.join(location).ok())
                .ok_or_else(|| {
                    failed(format!(
                        "{} redirects to an unreadable Location",
                        echo(url.as_str())
                    ))
                })?;
        };
        if !response.status().is_success() {
            return Err(failed(format!(
                "{} answered {}",
                echo(url.as_str()),
                response.status()
            )));
        }
        let too_large = |bytes: usize| {
            FetchError::Image(BadImage {
                field: field.to_owned(),
                error: ImageError::TooManyBytes {
                    bytes,
                    max: self.max_bytes,
                },
            })
        };
        let declared = response.content_length().unwrap_or(0) as usize;
        if declared > self.max_bytes {
            return Err(too_large(declared));
        }
        let mut bytes = Vec::with_capacity(declared);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| logged("the answer broke off".into(), &url, error))?
        {
            if bytes.len() + chunk.len() > self.max_bytes {
                return Err(too_large(bytes.len() + chunk.len()));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// The guard's reason, when it was the guard that stopped the request.
/// `url` as the log may show it: a caller's URL can carry credentials (a user and
/// password, a presigned query), so only its origin and path.
fn without_secrets(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

pub(crate) fn refusal(error: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_internal(address: &str) -> bool {
        internal(address.parse().unwrap()).is_some()
    }

    #[test]
    fn a_network_that_is_not_one_is_named_with_its_setting() {
        let settings = FetchSettings {
            timeout_seconds: 1,
            max_redirects: 0,
            allowed_networks: vec!["10.1.0.0/16".into(), "ten".into()],
        };
        let error = Fetcher::new(&settings, 1).err().unwrap().to_string();
        assert!(error.contains("fetch.allowed_networks"), "{error}");
        assert!(
            error.contains("STYLIZE__FETCH__ALLOWED_NETWORKS"),
            "{error}"
        );
        assert!(error.contains("\"ten\""), "{error}");
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for address in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "::2",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(address), "{address} passed");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_as_ipv4() {
        for address in [
            // IPv4-translated, ::ffff:0:0/96
            "::ffff:0:7f00:1",
            "::ffff:0:a00:1",
            // 6to4, 2002::/16 with the IPv4 address in bits 16 to 48
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:c0a8:101:5::1",
            "2002:a9fe:a9fe::",
            // NAT64, well-known and local-use prefixes
            "64:ff9b::7f00:1",
            "64:ff9b::10.1.2.3",
            "64:ff9b:1::808:808",
            // Teredo, 2001::/32: a loopback server, or a private client (inverted)
            "2001:0:7f00:1::",
            "2001:0:808:808::f5ff:fffe",
            // ISATAP interface identifiers
            "2606:4700::5efe:7f00:1",
            "2606:4700::200:5efe:c0a8:101",
            // IPv4-compatible
            "::7f00:1",
        ] {
            assert!(is_internal(address), "{address} passed");
        }
        for address in [
            "::ffff:0:808:808",
            "2002:808:808::1",
            "64:ff9b::808:808",
            "2001:0:808:808::f7f7:f7f7",
            "2606:4700::5efe:808:808",
        ] {
            assert!(!is_internal(address), "{address} refused");
        }
        for address in [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(address), "{address} refused");
        }
    }

    #[test]
    fn logged_urls_keep_no_credentials() {
        let url =
            Url::parse("https://user:pass@example.com:8443/a/b.jpg?X-Amz-Signature=abc#f").unwrap();
        assert_eq!(without_secrets(&url), "https://example.com:8443/a/b.jpg");
    }

    #[test]
    fn urls_are_checked_for_scheme_and_literal_addresses() {
        let guard = Guard { allowed: vec![] };
        let check = |url: &str| guard.check_url(&Url::parse(url).unwrap());
        assert!(check("https://example.com/a.jpg").is_ok());
        assert!(check("http://93.184.215.14/a.jpg").is_ok());
        for url in [
            "file:///etc/passwd",
            "ftp://example.com/a.jpg",
            "gopher://example.com/",
            "http://127.0.0.1/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://[::ffff:0:7f00:1]/",
            "http://[2002:7f00:1::]/",
        ] {
            assert!(check(url).is_err(), "{url} passed");
        }
        let trusting = Guard {
            allowed: vec!["10.1.0.0/16".parse().unwrap()],
        };
        assert!(trusting
            .check_url(&Url::parse("http://10.1.2.3/").unwrap())
            .is_ok());
        assert!(trusting
            .check_url(&Url::parse("http://10.2.0.1/").unwrap())
            .is_err());
    }
}
