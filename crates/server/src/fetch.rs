//! Fetching media by URL (HMA's `url=`) without becoming a way into the network behind the
//! service (SSRF).
//!
//! Off unless `--fetch-allow HOST,…` names the hosts media may come from (a host, or any name
//! under it). Every address a URL leads to is checked before anything connects to it: a name is
//! resolved by [`Fetcher`]'s own resolver, which refuses the name outright when any of its
//! addresses is loopback, private, link-local, shared (CGNAT), multicast, unspecified, reserved
//! or documentation space (IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry),
//! and hands the HTTP client only the addresses it checked — so the address connected to is one
//! that was checked, and a name that resolves differently a second later (DNS rebinding) gains
//! nothing. Literal addresses in a URL get the same check. At most [`MAX_REDIRECTS`] redirects
//! are followed, each to an allowed host and through the same checks; no proxy from the
//! environment is used; the body is read up to the upload limit and the whole fetch is bounded
//! in time.
//!
//! Tests give the fetcher a resolver and an address rule of their own ([`Fetcher::with`]), so that
//! even a bug cannot send traffic anywhere but 127.0.0.1.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 3;

/// What may be fetched, how much and for how long.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Hosts media may be fetched from: each allows itself and every name under it.
    pub allow: Vec<String>,
    /// Largest body read, in bytes.
    pub max_bytes: u64,
    /// Longest a fetch may take, redirects included.
    pub timeout: Duration,
}

/// Resolves a host name to its addresses.
pub type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync,
>;

/// Whether an address (of a host name, or written in the URL) may be connected to; `Err` says why
/// not.
pub type AddressRule = Arc<dyn Fn(&str, IpAddr) -> Result<(), String> + Send + Sync>;

/// Why a fetch did not give media.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one that can be fetched.
    #[error("{0}")]
    BadUrl(String),
    /// The host is not in `--fetch-allow`.
    #[error("{host}: not among the hosts media may be fetched from (--fetch-allow)")]
    HostNotAllowed {
        /// The host.
        host: String,
    },
    /// The host leads to an address that is refused.
    #[error("{0}")]
    Refused(Refusal),
    /// More redirects than allowed.
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    /// The body is larger than allowed.
    #[error("the media is larger than {0} bytes")]
    TooLarge(u64),
    /// The server answered with an error status.
    #[error("the server answered {0}")]
    Status(u16),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Anything else on the way (the name does not resolve, the connection failed).
    #[error("cannot fetch it: {0}")]
    Failed(String),
}

/// An address refused before any connection.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host} leads to {addr}, {why}: refused before connecting")]
pub struct Refusal {
    /// The host name or literal.
    pub host: String,
    /// The address.
    pub addr: IpAddr,
    /// Why.
    pub why: String,
}

/// Media fetched.
#[derive(Debug)]
pub struct Fetched {
    /// The body.
    pub bytes: Vec<u8>,
    /// The `Content-Type` the server sent.
    pub content_type: Option<String>,
}

/// Why an address may not be connected to, if it may not.
pub fn refused_because(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_refusal(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_refusal(v4),
            None => v6_refusal(v6),
        },
    }
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata services live here)")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() || a >= 240 {
        Some("a reserved address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if a == 198 && (18..20).contains(&b) {
        Some("a benchmarking address")
    } else if ip.is_documentation() || (a == 192 && b == 0 && ip.octets()[2] == 0) {
        Some("a documentation or protocol-assignment address")
    } else {
        None
    }
}

fn v6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("a documentation address")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        Some("a NAT64 address")
    } else {
        None
    }
}

/// The rule of a deployment: public addresses only.
pub fn public_only() -> AddressRule {
    Arc::new(|_, ip| match refused_because(ip) {
        Some(why) => Err(why.to_string()),
        None => Ok(()),
    })
}

/// The system's resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|name: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((name.as_str(), 0)).await?.map(|s| s.ip()).collect())
        })
    })
}

/// Resolves names through [`Lookup`] and hands the client only addresses that pass the rule.
struct Guarded {
    lookup: Lookup,
    rule: AddressRule,
}

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        let lookup = self.lookup.clone();
        let rule = self.rule.clone();
        Box::pin(async move {
            let ips = lookup(name.clone()).await?;
            if ips.is_empty() {
                return Err(format!("{name} has no address").into());
            }
            // One refused address refuses the name: a name that leads anywhere inside is not
            // a media host.
            for &ip in &ips {
                if let Err(why) = rule(&name, ip) {
                    return Err(Box::new(Refusal { host: name.clone(), addr: ip, why }) as _);
                }
            }
            let addrs: reqwest::dns::Addrs = Box::new(
                ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect::<Vec<_>>().into_iter(),
            );
            Ok(addrs)
        })
    }
}

/// Fetches media by URL within the rules above.
pub struct Fetcher {
    client: reqwest::Client,
    allow: Arc<Vec<String>>,
    rule: AddressRule,
    max_bytes: u64,
    timeout: Duration,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("allow", &self.allow).finish_non_exhaustive()
    }
}

/// Whether `host` is `allowed` or a name under it.
fn host_allowed(allow: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    allow
        .iter()
        .any(|a| host == *a || host.strip_suffix(a.as_str()).is_some_and(|p| p.ends_with('.')))
}

/// Checks a URL before anything is sent to it: scheme, allowed host, and a literal address.
fn check_url(url: &reqwest::Url, allow: &[String], rule: &AddressRule) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::BadUrl(format!("{url}: only http and https URLs are fetched")));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(FetchError::BadUrl(format!("{url}: no host")));
    };
    let name = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let literal = name.parse::<IpAddr>().ok();
    if !host_allowed(allow, &name) {
        return Err(FetchError::HostNotAllowed { host: name });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::BadUrl(format!("{name}: URLs with credentials are not fetched")));
    }
    if let Some(ip) = literal {
        rule(&name, ip)
            .map_err(|why| FetchError::Refused(Refusal { host: name, addr: ip, why }))?;
    }
    Ok(())
}

/// What went wrong inside the HTTP client, in our terms where it was ours.
fn explain(e: reqwest::Error, timeout: Duration) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refusal>() {
            return FetchError::Refused(r.clone());
        }
        if let Some(f) = s.downcast_ref::<RedirectRefused>() {
            return match &f.0 {
                FetchError::HostNotAllowed { host } => {
                    FetchError::HostNotAllowed { host: host.clone() }
                }
                FetchError::Refused(r) => FetchError::Refused(r.clone()),
                FetchError::TooManyRedirects => FetchError::TooManyRedirects,
                other => FetchError::BadUrl(format!("a redirect: {other}")),
            };
        }
        source = s.source();
    }
    if e.is_timeout() {
        return FetchError::Timeout(timeout);
    }
    let mut text = e.to_string();
    let mut s = std::error::Error::source(&e);
    while let Some(inner) = s {
        text = format!("{text}: {inner}");
        s = inner.source();
    }
    FetchError::Failed(text)
}

/// A redirect refused by the policy (carried through the client's error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RedirectRefused(FetchError);

impl Fetcher {
    /// A fetcher for a deployment: the system's resolver, public addresses only.
    pub fn new(cfg: &FetchConfig) -> Result<Fetcher, FetchError> {
        Fetcher::with(cfg, system_lookup(), public_only())
    }

    /// A fetcher with its own resolver and address rule (tests).
    pub fn with(
        cfg: &FetchConfig,
        lookup: Lookup,
        rule: AddressRule,
    ) -> Result<Fetcher, FetchError> {
        let allow: Arc<Vec<String>> = Arc::new(
            cfg.allow
                .iter()
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        );
        let policy = {
            let allow = allow.clone();
            let rule = rule.clone();
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(RedirectRefused(FetchError::TooManyRedirects));
                }
                match check_url(attempt.url(), &allow, &rule) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(RedirectRefused(e)),
                }
            })
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(policy)
            .dns_resolver(Arc::new(Guarded { lookup, rule: rule.clone() }))
            .connect_timeout(cfg.timeout)
            .timeout(cfg.timeout)
            .user_agent(concat!("spoor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        Ok(Fetcher { client, allow, rule, max_bytes: cfg.max_bytes, timeout: cfg.timeout })
    }

    /// Fetches `url`: its body (at most the limit) and content type.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| FetchError::BadUrl(format!("{url:?} is not a URL: {e}")))?;
        check_url(&parsed, &self.allow, &self.rule)?;
        let work = async {
            let mut resp =
                self.client.get(parsed).send().await.map_err(|e| explain(e, self.timeout))?;
            if !resp.status().is_success() {
                return Err(FetchError::Status(resp.status().as_u16()));
            }
            if resp.content_length().is_some_and(|n| n > self.max_bytes) {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut bytes = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| explain(e, self.timeout))? {
                if bytes.len() as u64 + chunk.len() as u64 > self.max_bytes {
                    return Err(FetchError::TooLarge(self.max_bytes));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Fetched { bytes, content_type })
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn addresses_inside_are_refused_and_public_ones_taken() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00::1", "private"),
            ("ff02::1", "multicast"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:127.0.0.1", "loopback"),
        ] {
            let got = refused_because(ip.parse().unwrap());
            assert!(got.is_some_and(|g| g.contains(why)), "{ip}: {got:?}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(refused_because(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn hosts_are_allowed_with_the_names_under_them() {
        let allow = vec!["media.example".to_string()];
        assert!(host_allowed(&allow, "media.example"));
        assert!(host_allowed(&allow, "cdn.media.example"));
        assert!(host_allowed(&allow, "MEDIA.example."));
        assert!(!host_allowed(&allow, "evilmedia.example"));
        assert!(!host_allowed(&allow, "media.example.evil"));
    }

    /// The only address a test connects to.
    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// Names the test resolves: one to the test server, the others to addresses a deployment
    /// refuses; every other name is unknown.
    fn test_lookup() -> Lookup {
        Arc::new(|name: String| {
            Box::pin(async move {
                let ips: Vec<IpAddr> = match name.as_str() {
                    "media.test" => vec![LOCAL],
                    "inside.test" => vec!["10.0.0.1".parse().unwrap()],
                    "loop.test" => vec![LOCAL],
                    "metadata.test" => vec!["169.254.169.254".parse().unwrap()],
                    "six.test" => vec!["::1".parse().unwrap()],
                    "both.test" => vec![LOCAL, "10.0.0.1".parse().unwrap()],
                    _ => return Err(std::io::Error::other(format!("{name}: unknown to the test"))),
                };
                Ok(ips)
            })
        })
    }

    /// The deployment's rule, except that `media.test` and `both.test` may lead to 127.0.0.1 —
    /// and nothing may
    /// lead anywhere else, even a public address. (`both.test` also leads to 10.0.0.1: one
    /// refused address refuses the name.)
    fn test_rule() -> AddressRule {
        let public = public_only();
        Arc::new(move |name, ip| {
            if (name == "media.test" || name == "both.test") && ip == LOCAL {
                return Ok(());
            }
            public(name, ip)?;
            Err("not 127.0.0.1: tests connect nowhere else".into())
        })
    }

    /// A server on 127.0.0.1 serving a picture, a large body and redirects, counting the
    /// connections made to it.
    async fn media_server() -> (u16, Arc<AtomicUsize>) {
        use axum::response::Redirect;
        use axum::routing::get;
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new()
            .route(
                "/photo.jpg",
                get(|| async { ([("content-type", "image/jpeg")], vec![7u8; 1000]) }),
            )
            .route("/large", get(|| async { vec![0u8; 5000] }))
            .route("/missing", get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }))
            .route("/to-inside", get(|| async { Redirect::temporary("http://inside.test/x") }))
            .route(
                "/to-literal",
                get(|| async { Redirect::temporary("http://169.254.169.254/latest") }),
            )
            .route(
                "/to-other-host",
                get(|| async { Redirect::temporary("http://elsewhere.test/x") }),
            )
            .route(
                "/hop/{n}",
                get(|axum::extract::Path(n): axum::extract::Path<u32>| async move {
                    if n == 0 {
                        Redirect::temporary("/photo.jpg")
                    } else {
                        Redirect::temporary(&format!("/hop/{}", n - 1))
                    }
                }),
            )
            .layer(axum::middleware::from_fn(move |req, next: axum::middleware::Next| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    next.run(req).await
                }
            }));
        let listener = tokio::net::TcpListener::bind((LOCAL, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (port, hits)
    }

    #[tokio::test]
    async fn only_allowed_hosts_at_checked_addresses_are_fetched() {
        let (port, hits) = media_server().await;
        let cfg = FetchConfig {
            allow: vec![
                "media.test".into(),
                "inside.test".into(),
                "loop.test".into(),
                "metadata.test".into(),
                "six.test".into(),
                "both.test".into(),
                "127.0.0.1".into(),
                "169.254.169.254".into(),
                "::1".into(),
            ],
            max_bytes: 2000,
            timeout: Duration::from_secs(5),
        };
        let f = Fetcher::with(&cfg, test_lookup(), test_rule()).unwrap();
        let url = |host: &str, path: &str| format!("http://{host}:{port}{path}");

        let got = f.fetch(&url("media.test", "/photo.jpg")).await.unwrap();
        assert_eq!((got.bytes.len(), got.content_type.as_deref()), (1000, Some("image/jpeg")));
        let got = f.fetch(&url("media.test", "/hop/2")).await.unwrap();
        assert_eq!(got.bytes.len(), 1000, "three redirects are followed");
        let served = hits.load(Ordering::SeqCst);
        assert_eq!(served, 5);

        // Refused before any connection: the server sees nothing more.
        for (u, says) in [
            (url("inside.test", "/x"), "10.0.0.1, a private address"),
            (url("loop.test", "/x"), "127.0.0.1, a loopback address"),
            (url("metadata.test", "/x"), "169.254.169.254, a link-local address"),
            (url("six.test", "/x"), "::1, a loopback address"),
            (url("both.test", "/x"), "10.0.0.1, a private address"),
            (url("127.0.0.1", "/photo.jpg"), "127.0.0.1, a loopback address"),
            (url("169.254.169.254", "/latest"), "a link-local address"),
            (url("[::1]", "/x"), "::1, a loopback address"),
            (url("media.test", "/to-inside"), "inside.test leads to 10.0.0.1"),
            (url("media.test", "/to-literal"), "169.254.169.254, a link-local address"),
        ] {
            let before = hits.load(Ordering::SeqCst);
            let e = f.fetch(&u).await.unwrap_err();
            assert!(matches!(e, FetchError::Refused(_)), "{u}: {e}");
            assert!(e.to_string().contains(says), "{u}: {e}");
            // A redirect costs the one request that answered it, nothing after.
            let extra = usize::from(u.contains("/to-"));
            assert_eq!(hits.load(Ordering::SeqCst), before + extra, "{u}: a connection was made");
        }
        let e = f.fetch(&url("media.test", "/to-other-host")).await.unwrap_err();
        assert!(matches!(e, FetchError::HostNotAllowed { .. }), "{e}");
        let e = f.fetch(&url("elsewhere.test", "/x")).await.unwrap_err();
        assert!(matches!(e, FetchError::HostNotAllowed { .. }), "{e}");
        let e = f.fetch(&url("media.test", "/hop/3")).await.unwrap_err();
        assert!(matches!(e, FetchError::TooManyRedirects), "{e}");
        let e = f.fetch(&url("media.test", "/large")).await.unwrap_err();
        assert!(matches!(e, FetchError::TooLarge(2000)), "{e}");
        let e = f.fetch(&url("media.test", "/missing")).await.unwrap_err();
        assert!(matches!(e, FetchError::Status(404)), "{e}");
        for bad in
            ["ftp://media.test/x", "http://user:pw@media.test/x", "not a url", "file:///etc/passwd"]
        {
            let e = f.fetch(bad).await.unwrap_err();
            assert!(
                matches!(e, FetchError::BadUrl(_) | FetchError::HostNotAllowed { .. }),
                "{bad}: {e}"
            );
        }
    }
}
