//! Host names to addresses, as Node's `dns.lookup` (v13) does for `listen` and `connect`: the
//! system resolver, off the core, IPv4 addresses first unless a family is asked for.

use std::io;
use std::net::IpAddr;

use dns_lookup::{AddrInfoHints, LookupErrorKind, SockType};

use crate::Error;

/// Looks `host` up with the system resolver (`getaddrinfo`) on a blocking thread and picks
/// one address of `family` (4, 6, or 0 for either) with [`pick`].
///
/// # Errors
///
/// As Node reports them ([`lookup_error`]): `ENOTFOUND` when the name or an address of that
/// family does not exist; the resolver's own code otherwise (`EAI_AGAIN`, `EAI_FAIL`, ...).
pub(crate) async fn lookup(host: &str, family: u8) -> Result<IpAddr, Error> {
    let name = host.to_owned();
    let found = blocking::unblock(move || {
        let hints = AddrInfoHints {
            socktype: SockType::Stream.into(),
            ..AddrInfoHints::default()
        };
        dns_lookup::getaddrinfo(Some(&name), None, Some(hints)).map(|addrs| {
            pick(
                addrs.filter_map(Result::ok).map(|a| a.sockaddr.ip()),
                family,
            )
        })
    })
    .await;
    match found {
        Ok(Some(ip)) => Ok(ip),
        Ok(None) => Err(Error::lookup(host)),
        Err(err) => Err(lookup_error(host, err.kind(), err.into())),
    }
}

/// Node's error for a failed `getaddrinfo` (its `dnsException`): "no such name" and "no
/// address" are `ENOTFOUND`; the other resolver codes keep their name (`EAI_AGAIN` for a
/// resolver that did not answer, ...); `EAI_SYSTEM` is the errno's code (libuv's
/// translation). A lookup that never reached the resolver (a name with a NUL byte) is
/// `ENOTFOUND`, as before a lookup can fail any other way.
fn lookup_error(host: &str, kind: LookupErrorKind, err: io::Error) -> Error {
    let code = match kind {
        LookupErrorKind::NoName | LookupErrorKind::NoData => return Error::lookup(host),
        LookupErrorKind::Again => "EAI_AGAIN",
        LookupErrorKind::Fail => "EAI_FAIL",
        LookupErrorKind::Badflags => "EAI_BADFLAGS",
        LookupErrorKind::Family => "EAI_FAMILY",
        LookupErrorKind::Socktype => "EAI_SOCKTYPE",
        LookupErrorKind::Service => "EAI_SERVICE",
        LookupErrorKind::Memory => "EAI_MEMORY",
        LookupErrorKind::System if err.raw_os_error().is_some() => {
            return Error::from_io(err, "getaddrinfo").with_hostname(host);
        }
        LookupErrorKind::System | LookupErrorKind::Unknown | LookupErrorKind::IO => {
            return Error::lookup(host);
        }
    };
    Error::lookup_code(code, host)
}

/// The address to use among a name's `addrs` (in the resolver's order): the first of
/// `family` (4 or 6), or for 0 the first IPv4 address, else the first IPv6 one (Node's
/// default before v17, `verbatim: false`).
pub(crate) fn pick(addrs: impl Iterator<Item = IpAddr>, family: u8) -> Option<IpAddr> {
    let mut first_v6 = None;
    for ip in addrs {
        match (family, ip.is_ipv4()) {
            (0 | 4, true) | (6, false) => return Some(ip),
            (0, false) => {
                first_v6.get_or_insert(ip);
            }
            _ => {}
        }
    }
    first_v6
}

#[cfg(test)]
mod tests {
    use super::pick;
    use std::net::IpAddr;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn ipv4_first_unless_a_family_is_asked_for() {
        let both = ips(&["::1", "fe80::1", "127.0.0.1", "10.0.0.1"]);
        let get = |family| pick(both.iter().copied(), family).map(|ip| ip.to_string());
        assert_eq!(get(0).as_deref(), Some("127.0.0.1"));
        assert_eq!(get(4).as_deref(), Some("127.0.0.1"));
        assert_eq!(get(6).as_deref(), Some("::1"));
    }

    #[test]
    fn one_family_only() {
        let v6 = ips(&["::1", "::2"]);
        assert_eq!(pick(v6.iter().copied(), 0), Some("::1".parse().unwrap()));
        assert_eq!(pick(v6.iter().copied(), 4), None);
        let v4 = ips(&["192.0.2.1"]);
        assert_eq!(pick(v4.iter().copied(), 6), None);
        assert_eq!(pick(std::iter::empty(), 0), None);
    }

    /// The resolver's codes, as Node's `dnsException` reports them (a resolver that does not
    /// answer cannot be made on loopback, so the mapping is checked on the codes).
    #[cfg(unix)]
    #[test]
    fn resolver_codes_as_node_reports_them() {
        let lookup_error_for = |gai| {
            let err = dns_lookup::LookupError::new(gai);
            super::lookup_error("name.test", err.kind(), err.into())
        };
        let code = |gai| lookup_error_for(gai).code();
        assert_eq!(code(libc::EAI_NONAME), "ENOTFOUND");
        #[cfg(target_os = "linux")]
        assert_eq!(code(libc::EAI_NODATA), "ENOTFOUND");
        assert_eq!(code(libc::EAI_AGAIN), "EAI_AGAIN");
        assert_eq!(code(libc::EAI_FAIL), "EAI_FAIL");
        assert_eq!(code(libc::EAI_MEMORY), "EAI_MEMORY");
        assert_eq!(code(libc::EAI_FAMILY), "EAI_FAMILY");
        let again = lookup_error_for(libc::EAI_AGAIN);
        assert_eq!(again.to_string(), "getaddrinfo EAI_AGAIN name.test");
        assert_eq!(again.hostname(), Some("name.test"));
        assert_eq!(again.syscall(), Some("getaddrinfo"));
    }
}
