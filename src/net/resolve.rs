//! Host names to addresses, as Node's `dns.lookup` (v13) does for `listen` and `connect`: the
//! system resolver, off the core, IPv4 addresses first unless a family is asked for.

use std::net::{IpAddr, ToSocketAddrs};

use crate::Error;

/// Looks `host` up with the system resolver on a blocking thread and picks one address of
/// `family` (4, 6, or 0 for either) with [`pick`].
///
/// # Errors
///
/// `ENOTFOUND` when the name has no address of that family or the resolver fails.
pub(crate) async fn lookup(host: &str, family: u8) -> Result<IpAddr, Error> {
    let name = host.to_owned();
    let found = blocking::unblock(move || {
        (name.as_str(), 0)
            .to_socket_addrs()
            .map(|addrs| pick(addrs.map(|a| a.ip()), family))
    })
    .await;
    match found {
        Ok(Some(ip)) => Ok(ip),
        _ => Err(Error::lookup(host)),
    }
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
}
