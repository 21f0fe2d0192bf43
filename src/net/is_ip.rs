//! Node's `net.isIP`, `net.isIPv4` and `net.isIPv6`: which strings are IP address literals.
//!
//! Node decides with two regular expressions (`IPv4Reg` and `IPv6Reg` in
//! lib/internal/net.js, the same from v12 to today). This is a hand parser that accepts
//! exactly what they accept:
//!
//! * IPv4: four dotted decimal numbers `0..=255` without leading zeros (`127.0.0.1`, not
//!   `127.000.000.001`, `0x7f.0.0.1`, `127.1` or `127.0.0.1/24`).
//! * IPv6: eight groups of 1-4 hex digits, where the last two may be a dotted IPv4 address
//!   (`::ffff:127.0.0.1`), and one `::` may stand for one or more zero groups (so at most
//!   seven groups are written next to it). A zone id may follow: `%` and one or more ASCII
//!   letters, digits, `-`, `.` or `:` (`fe80::2008%eth0`, `fe80::7:8%1`; not
//!   `fe80::2008%eth0@1`).
//!
//! No surrounding whitespace, brackets (`[::1]`), ports or prefix lengths are accepted.

/// `4` for an IPv4 address, `6` for an IPv6 address, `0` for anything else (Node's
/// `net.isIP`).
///
/// # Examples
///
/// ```
/// use corenet::net::is_ip;
///
/// assert_eq!(is_ip("127.0.0.1"), 4);
/// assert_eq!(is_ip("::ffff:127.0.0.1"), 6);
/// assert_eq!(is_ip("fe80::2008%eth0"), 6);
/// assert_eq!(is_ip("127.000.000.001"), 0);
/// assert_eq!(is_ip("example.com"), 0);
/// ```
pub fn is_ip(input: &str) -> u8 {
    if is_ipv4(input) {
        4
    } else if is_ipv6(input) {
        6
    } else {
        0
    }
}

/// Whether `input` is a dotted-decimal IPv4 address (Node's `net.isIPv4`).
///
/// # Examples
///
/// ```
/// use corenet::net::is_ipv4;
///
/// assert!(is_ipv4("192.168.0.1"));
/// assert!(!is_ipv4("192.168.0.01")); // no leading zeros
/// assert!(!is_ipv4("::1"));
/// ```
pub fn is_ipv4(input: &str) -> bool {
    let mut count = 0;
    for part in input.split('.') {
        count += 1;
        if count > 4 || !is_v4_number(part.as_bytes()) {
            return false;
        }
    }
    count == 4
}

/// Whether `input` is an IPv6 address, with an optional zone id (Node's `net.isIPv6`).
///
/// # Examples
///
/// ```
/// use corenet::net::is_ipv6;
///
/// assert!(is_ipv6("::1"));
/// assert!(is_ipv6("2001:db8::8a2e:370:7334"));
/// assert!(is_ipv6("fe80::1%eth0"));
/// assert!(!is_ipv6("1::2::3"));
/// assert!(!is_ipv6("127.0.0.1"));
/// ```
pub fn is_ipv6(input: &str) -> bool {
    // The address part has no `%`, and the zone may not contain one, so the first `%`
    // splits them.
    let address = match input.split_once('%') {
        Some((address, zone)) => {
            if zone.is_empty() || !zone.bytes().all(is_zone_byte) {
                return false;
            }
            address
        }
        None => input,
    };
    match address.find("::") {
        // Uncompressed: exactly eight groups.
        None => groups(address, true) == Some(8),
        // `::` stands for at least one zero group. A second `::` (or a `:::`) leaves an
        // empty group in the tail, which `groups` rejects.
        Some(at) => {
            let (head, tail) = (&address[..at], &address[at + 2..]);
            let head = if head.is_empty() {
                Some(0)
            } else {
                groups(head, false)
            };
            let tail = if tail.is_empty() {
                Some(0)
            } else {
                groups(tail, true)
            };
            matches!((head, tail), (Some(h), Some(t)) if h + t <= 7)
        }
    }
}

/// Counts the 16-bit groups in `s`, colon-separated groups of 1-4 hex digits, of which the
/// last may be an IPv4 address (two groups) when `v4_last`. `None` if any group is malformed.
fn groups(s: &str, v4_last: bool) -> Option<usize> {
    let mut count = 0;
    let mut parts = s.split(':').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        count += if is_v6_group(part.as_bytes()) {
            1
        } else if last && v4_last && is_ipv4(part) {
            2
        } else {
            return None;
        };
    }
    Some(count)
}

/// `[0-9a-fA-F]{1,4}`.
fn is_v6_group(s: &[u8]) -> bool {
    (1..=4).contains(&s.len()) && s.iter().all(u8::is_ascii_hexdigit)
}

/// Node's `v4Seg`: `[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5]`.
fn is_v4_number(s: &[u8]) -> bool {
    match *s {
        [d] => d.is_ascii_digit(),
        [b'1'..=b'9', d] => d.is_ascii_digit(),
        [b'1', a, b] => a.is_ascii_digit() && b.is_ascii_digit(),
        [b'2', b'0'..=b'4', d] => d.is_ascii_digit(),
        [b'2', b'5', b'0'..=b'5'] => true,
        _ => false,
    }
}

/// The zone id's class, `[0-9a-zA-Z-.:]`.
fn is_zone_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// test-net-isip.js (and node-net-api.md section 1), isIP.
    #[test]
    fn test_net_isip() {
        let cases: &[(&str, u8)] = &[
            ("127.0.0.1", 4),
            ("x127.0.0.1", 0),
            ("example.com", 0),
            ("0000:0000:0000:0000:0000:0000:0000:0000", 6),
            ("0000:0000:0000:0000:0000:0000:0000:0000::0000", 0),
            ("1050:0:0:0:5:600:300c:326b", 6),
            ("2001:252:0:1::2008:6", 6),
            ("2001:dead:beef:1::2008:6", 6),
            ("2001::", 6),
            ("2001:dead::", 6),
            ("2001:dead:beef::", 6),
            ("2001:dead:beef:1::", 6),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6),
            (":2001:252:0:1::2008:6:", 0),
            (":2001:252:0:1::2008:6", 0),
            ("2001:252:0:1::2008:6:", 0),
            ("2001:252::1::2008:6", 0),
            ("::2001:252:1:2008:6", 6),
            ("::2001:252:1:1.1.1.1", 6),
            ("::2001:252:1:255.255.255.255", 6),
            ("::2001:252:1:255.255.255.255.76", 0),
            ("fe80::2008%eth0", 6),
            ("fe80::2008%eth0.0", 6),
            ("fe80::2008%eth0@1", 0),
            ("::anything", 0),
            ("::1", 6),
            ("::", 6),
            ("0000:0000:0000:0000:0000:0000:12345:0000", 0),
            ("0", 0),
            ("", 0),
            // Node stringifies non-strings first: `{toString: () => ...}`, `123`, `null`,
            // `true`, `{}` become these.
            ("bla", 0),
            ("123", 0),
            ("null", 0),
            ("true", 0),
            ("[object Object]", 0),
            ("undefined", 0),
        ];
        for &(input, family) in cases {
            assert_eq!(is_ip(input), family, "isIP({input:?})");
        }
    }

    /// test-net-isip.js, isIPv4 and isIPv6.
    #[test]
    fn test_net_isip_v4_v6() {
        assert!(is_ipv4("127.0.0.1"));
        assert!(!is_ipv4("example.com"));
        assert!(!is_ipv4("2001:252:0:1::2008:6"));
        assert!(!is_ipv4(""));
        assert!(!is_ipv4("::2001:252:1:255.255.255.255"));
        assert!(!is_ipv4("bla"));
        assert!(!is_ipv6("127.0.0.1"));
        assert!(!is_ipv6("example.com"));
        assert!(is_ipv6("2001:252:0:1::2008:6"));
        assert!(!is_ipv6(""));
        assert!(is_ipv6("::2001:252:1:255.255.255.255"));
        assert!(!is_ipv6("bla"));
    }

    /// node-net-api.md section 1: leading zeros and CIDR suffixes are not IPv4.
    #[test]
    fn node_net_api_examples() {
        assert_eq!(is_ip("127.000.000.001"), 0);
        assert_eq!(is_ip("127.0.0.1/24"), 0);
        assert_eq!(is_ip("::ffff:127.0.0.1"), 6);
        assert_eq!(is_ip("fe80::2008%eth0"), 6);
        assert_eq!(is_ip("%eth0@1"), 0);
    }

    /// test-net-isipv4.js.
    #[test]
    fn test_net_isipv4() {
        let v4 = [
            "0.0.0.0",
            "8.8.8.8",
            "127.0.0.1",
            "100.100.100.100",
            "192.168.0.1",
            "18.101.25.153",
            "123.23.34.2",
            "172.26.168.134",
            "212.58.241.131",
            "128.0.0.0",
            "23.71.254.72",
            "223.255.255.255",
            "192.0.2.235",
            "99.198.122.146",
            "46.51.197.88",
            "173.194.34.134",
        ];
        let v4not = [
            ".100.100.100.100",
            "100..100.100.100.",
            "100.100.100.100.",
            "999.999.999.999",
            "256.256.256.256",
            "256.100.100.100.100",
            "123.123.123",
            "http://123.123.123",
            "1000.2.3.4",
            "999.2.3.4",
            "0000000192.168.0.200",
            "192.168.0.2000000000",
        ];
        for ip in v4 {
            assert!(is_ipv4(ip), "{ip}");
            assert_eq!(is_ip(ip), 4, "{ip}");
        }
        for ip in v4not {
            assert!(!is_ipv4(ip), "{ip}");
        }
    }

    /// test-net-isipv6.js.
    #[test]
    fn test_net_isipv6() {
        let v6 = [
            "::",
            "1::",
            "::1",
            "1::8",
            "1::7:8",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6::8",
            "1:2:3:4:5:6:7::",
            "1:2:3:4:5::7:8",
            "1:2:3:4:5::8",
            "1:2:3::8",
            "1::4:5:6:7:8",
            "1::6:7:8",
            "1::3:4:5:6:7:8",
            "1:2:3:4::6:7:8",
            "1:2::4:5:6:7:8",
            "::2:3:4:5:6:7:8",
            "1:2::8",
            "2001:0000:1234:0000:0000:C1C0:ABCD:0876",
            "3ffe:0b00:0000:0000:0001:0000:0000:000a",
            "FF02:0000:0000:0000:0000:0000:0000:0001",
            "0000:0000:0000:0000:0000:0000:0000:0001",
            "0000:0000:0000:0000:0000:0000:0000:0000",
            "::ffff:192.168.1.26",
            "2::10",
            "ff02::1",
            "fe80::",
            "2002::",
            "2001:db8::",
            "2001:0db8:1234::",
            "::ffff:0:0",
            "::ffff:192.168.1.1",
            "1:2:3:4::8",
            "1::2:3:4:5:6:7",
            "1::2:3:4:5:6",
            "1::2:3:4:5",
            "1::2:3:4",
            "1::2:3",
            "::2:3:4:5:6:7",
            "::2:3:4:5:6",
            "::2:3:4:5",
            "::2:3:4",
            "::2:3",
            "::8",
            "1:2:3:4:5:6::",
            "1:2:3:4:5::",
            "1:2:3:4::",
            "1:2:3::",
            "1:2::",
            "1:2:3:4::7:8",
            "1:2:3::7:8",
            "1:2::7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5::1.2.3.4",
            "1:2:3:4::1.2.3.4",
            "1:2:3::1.2.3.4",
            "1:2::1.2.3.4",
            "1::1.2.3.4",
            "1:2:3:4::5:1.2.3.4",
            "1:2:3::5:1.2.3.4",
            "1:2::5:1.2.3.4",
            "1::5:1.2.3.4",
            "1::5:11.22.33.44",
            "fe80::217:f2ff:254.7.237.98",
            "fe80::217:f2ff:fe07:ed62",
            "2001:DB8:0:0:8:800:200C:417A",
            "FF01:0:0:0:0:0:0:101",
            "0:0:0:0:0:0:0:1",
            "0:0:0:0:0:0:0:0",
            "2001:DB8::8:800:200C:417A",
            "FF01::101",
            "0:0:0:0:0:0:13.1.68.3",
            "0:0:0:0:0:FFFF:129.144.52.38",
            "::13.1.68.3",
            "::FFFF:129.144.52.38",
            "fe80:0000:0000:0000:0204:61ff:fe9d:f156",
            "fe80:0:0:0:204:61ff:fe9d:f156",
            "fe80::204:61ff:fe9d:f156",
            "fe80:0:0:0:204:61ff:254.157.241.86",
            "fe80::204:61ff:254.157.241.86",
            "fe80::1",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "2001:db8:85a3:0:0:8a2e:370:7334",
            "2001:db8:85a3::8a2e:370:7334",
            "2001:0db8:0000:0000:0000:0000:1428:57ab",
            "2001:0db8:0000:0000:0000::1428:57ab",
            "2001:0db8:0:0:0:0:1428:57ab",
            "2001:0db8:0:0::1428:57ab",
            "2001:0db8::1428:57ab",
            "2001:db8::1428:57ab",
            "::ffff:12.34.56.78",
            "::ffff:0c22:384e",
            "2001:0db8:1234:0000:0000:0000:0000:0000",
            "2001:0db8:1234:ffff:ffff:ffff:ffff:ffff",
            "2001:db8:a::123",
            "::ffff:192.0.2.128",
            "::ffff:c000:280",
            "a:b:c:d:e:f:f1:f2",
            "a:b:c::d:e:f:f1",
            "a:b:c::d:e:f",
            "a:b:c::d:e",
            "a:b:c::d",
            "::a",
            "::a:b:c",
            "::a:b:c:d:e:f:f1",
            "a::",
            "a:b:c::",
            "a:b:c:d:e:f:f1::",
            "a:bb:ccc:dddd:000e:00f:0f::",
            "0:a:0:a:0:0:0:a",
            "0:a:0:0:a:0:0:a",
            "2001:db8:1:1:1:1:0:0",
            "2001:db8:1:1:1:0:0:0",
            "2001:db8:1:1:0:0:0:0",
            "2001:db8:1:0:0:0:0:0",
            "2001:db8:0:0:0:0:0:0",
            "2001:0:0:0:0:0:0:0",
            "A:BB:CCC:DDDD:000E:00F:0F::",
            "0:0:0:0:0:0:0:a",
            "0:0:0:0:a:0:0:0",
            "0:0:0:a:0:0:0:0",
            "a:0:0:a:0:0:a:a",
            "a:0:0:a:0:0:0:a",
            "a:0:0:0:a:0:0:a",
            "a:0:0:0:a:0:0:0",
            "a:0:0:0:0:0:0:0",
            "fe80::7:8%eth0",
            "fe80::7:8%1",
        ];
        let v6not = [
            "",
            "1:",
            ":1",
            "11:36:12",
            "02001:0000:1234:0000:0000:C1C0:ABCD:0876",
            "2001:0000:1234:0000:00001:C1C0:ABCD:0876",
            "2001:0000:1234: 0000:0000:C1C0:ABCD:0876",
            "2001:1:1:1:1:1:255Z255X255Y255",
            "3ffe:0b00:0000:0001:0000:0000:000a",
            "FF02:0000:0000:0000:0000:0000:0000:0000:0001",
            "3ffe:b00::1::a",
            "::1111:2222:3333:4444:5555:6666::",
            "1:2:3::4:5::7:8",
            "12345::6:7:8",
            "1::5:400.2.3.4",
            "1::5:260.2.3.4",
            "1::5:256.2.3.4",
            "1::5:1.256.3.4",
            "1::5:1.2.256.4",
            "1::5:1.2.3.256",
            "1::5:300.2.3.4",
            "1::5:1.300.3.4",
            "1::5:1.2.300.4",
            "1::5:1.2.3.300",
            "1::5:900.2.3.4",
            "1::5:1.900.3.4",
            "1::5:1.2.900.4",
            "1::5:1.2.3.900",
            "1::5:300.300.300.300",
            "1::5:3000.30.30.30",
            "1::400.2.3.4",
            "1::260.2.3.4",
            "1::256.2.3.4",
            "1::1.256.3.4",
            "1::1.2.256.4",
            "1::1.2.3.256",
            "1::300.2.3.4",
            "1::1.300.3.4",
            "1::1.2.300.4",
            "1::1.2.3.300",
            "1::900.2.3.4",
            "1::1.900.3.4",
            "1::1.2.900.4",
            "1::1.2.3.900",
            "1::300.300.300.300",
            "1::3000.30.30.30",
            "::400.2.3.4",
            "::260.2.3.4",
            "::256.2.3.4",
            "::1.256.3.4",
            "::1.2.256.4",
            "::1.2.3.256",
            "::300.2.3.4",
            "::1.300.3.4",
            "::1.2.300.4",
            "::1.2.3.300",
            "::900.2.3.4",
            "::1.900.3.4",
            "::1.2.900.4",
            "::1.2.3.900",
            "::300.300.300.300",
            "::3000.30.30.30",
            "2001:DB8:0:0:8:800:200C:417A:221",
            "FF01::101::2",
            "1111:2222:3333:4444::5555:",
            "1111:2222:3333::5555:",
            "1111:2222::5555:",
            "1111::5555:",
            "::5555:",
            ":::",
            "1111:",
            ":",
            ":1111:2222:3333:4444::5555",
            ":1111:2222:3333::5555",
            ":1111:2222::5555",
            ":1111::5555",
            ":::5555",
            "1.2.3.4:1111:2222:3333:4444::5555",
            "1.2.3.4:1111:2222:3333::5555",
            "1.2.3.4:1111:2222::5555",
            "1.2.3.4:1111::5555",
            "1.2.3.4::5555",
            "1.2.3.4::",
            "fe80:0000:0000:0000:0204:61ff:254.157.241.086",
            "123",
            "ldkfj",
            "2001::FFD3::57ab",
            "2001:db8:85a3::8a2e:37023:7334",
            "2001:db8:85a3::8a2e:370k:7334",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "1:::3:4:5",
            "1:2:3::4:5:6:7:8:9",
            "::ffff:2.3.4",
            "::ffff:257.1.2.3",
            "::ffff:12345678901234567890.1.26",
            "2001:0000:1234:0000:0000:C1C0:ABCD:0876 0",
            "02001:0000:1234:0000:0000:C1C0:ABCD:0876",
        ];
        for ip in v6 {
            assert!(is_ipv6(ip), "{ip}");
            assert_eq!(is_ip(ip), 6, "{ip}");
        }
        for ip in v6not {
            assert!(!is_ipv6(ip), "{ip}");
        }
    }

    /// Corners of Node's regexes: how many groups sit beside `::`, where an IPv4 tail may
    /// go, and the zone id's character class.
    #[test]
    fn regex_corners() {
        let cases: &[(&str, bool)] = &[
            // `::` must stand for at least one group.
            ("1:2:3:4:5:6:7::", true),
            ("::2:3:4:5:6:7:8", true),
            ("1:2:3:4:5:6:7::8", false),
            ("1:2:3:4::5:6:7:8", false),
            ("1:2:3:4:5:6::1.2.3.4", false),
            ("1:2:3:4:5::1.2.3.4", true),
            ("::1:2:3:4:5:1.2.3.4", true),
            ("::1:2:3:4:5:6:1.2.3.4", false),
            // An uncompressed IPv4 tail needs exactly six groups before it.
            ("1:2:3:4:5:1.2.3.4", false),
            ("1:2:3:4:5:6:7:1.2.3.4", false),
            // IPv4 only at the end.
            ("::1.2.3.4:1", false),
            ("::1.2.3.4%eth0", true),
            ("::01.2.3.4", false),
            ("::0.0.0.0", true),
            // Zones: `[0-9a-zA-Z-.:]+`.
            ("fe80::1%", false),
            ("fe80::1%a-b.c:d", true),
            ("fe80::1%eth_0", false),
            ("fe80::1%eth%0", false),
            ("fe80::1% eth0", false),
            ("fe80::1%é", false),
            ("%eth0", false),
            ("%eth0@1", false),
            ("1.2.3.4%eth0", false),
            // No brackets, ports, whitespace or prefix lengths.
            ("[::1]", false),
            ("[::1]:80", false),
            ("::1 ", false),
            (" ::1", false),
            ("::1\n", false),
            ("::1/128", false),
            ("::ffff:1.2.3.4/96", false),
            // Hex digits only, 1-4 of them, any case.
            ("ABCD:ef01::", true),
            ("abcg::", false),
            ("0000a::", false),
            ("::١", false),
        ];
        for &(input, expected) in cases {
            assert_eq!(is_ipv6(input), expected, "isIPv6({input:?})");
        }
    }

    #[test]
    fn ipv4_corners() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "1.10.100.199",
            "249.250.251.200",
        ] {
            assert_eq!(is_ip(ip), 4, "{ip}");
        }
        for ip in [
            "127.000.000.001",
            "127.0.0.01",
            "0x7f.0.0.1",
            "127.1",
            "127.0.1",
            "127.0.0.1.",
            ".127.0.0.1",
            "127..0.1",
            "256.0.0.1",
            "260.0.0.1",
            "300.0.0.1",
            "1.2.3.-4",
            "1.2.3.+4",
            "1.2.3.4 ",
            "1.2.3.4\n",
            "1.2.3.4:80",
            "1.2.3.4/32",
            "١.٢.٣.٤",
            "1.2.3.4.5",
        ] {
            assert_eq!(is_ip(ip), 0, "{ip}");
        }
    }
}
