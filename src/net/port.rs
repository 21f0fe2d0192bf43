//! [`Port`]: a TCP port checked the way Node checks `listen`/`connect` ports.
//!
//! Node v14 (`isLegalPort` in lib/internal/net.js) accepts a number or a string `port` iff
//! `+port === (+port >>> 0) && port <= 0xFFFF` and the string is not blank: an integer in
//! `0..=65535` after JavaScript's `Number()` conversion. So `'8080'`, `' 80 '`, `'0x1F90'`,
//! `'1e3'` and `-0` are ports; `-1`, `65536`, `123.456`, `NaN`, `±Infinity`, `4294967295`,
//! `''`, `' '`, `'0x'` and `'-0x1'` throw `ERR_SOCKET_BAD_PORT`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A TCP port, `0..=65535`; 0 asks the OS for a free (ephemeral) port.
///
/// Every `u16` is a port ([`From<u16>`](#impl-From%3Cu16%3E-for-Port)). Wider integers,
/// floats and strings go through Node's check and fail with `ERR_SOCKET_BAD_PORT`.
///
/// # Examples
///
/// ```
/// use corenet::net::Port;
///
/// let port: Port = "0x1F90".parse()?;
/// assert_eq!(port.get(), 8080);
/// assert_eq!(Port::try_from(80.0)?, Port::from(80));
///
/// let err = Port::try_from(65536_i64).unwrap_err();
/// assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT");
/// assert_eq!(err.to_string(), "Port should be >= 0 and < 65536. Received 65536.");
/// # Ok::<(), corenet::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(u16);

impl Port {
    /// The port `port`.
    ///
    /// # Examples
    ///
    /// ```
    /// const HTTP: corenet::net::Port = corenet::net::Port::new(80);
    /// assert_eq!(HTTP.get(), 80);
    /// ```
    pub const fn new(port: u16) -> Port {
        Port(port)
    }

    /// The port number.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corenet::net::Port::from(443).get(), 443);
    /// ```
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Node's rule for a number: an integer in `0..=65535` (`-0` included, `NaN` not).
    fn from_number(n: f64) -> Option<Port> {
        // `as` is exact here: the range check leaves only integers 0..=65535 (and -0).
        ((0.0..=65535.0).contains(&n) && n.fract() == 0.0).then_some(Port(n as u16))
    }
}

impl From<u16> for Port {
    fn from(port: u16) -> Port {
        Port(port)
    }
}

impl From<Port> for u16 {
    fn from(port: Port) -> u16 {
        port.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl TryFrom<f64> for Port {
    type Error = Error;

    /// Node's check on a JavaScript number: an integer in `0..=65535`.
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_BAD_PORT` for a fraction, a negative number, one above 65535, `NaN` or
    /// `±Infinity`; the message prints the number as JavaScript does (`123.456`, `NaN`,
    /// `Infinity`, `1e+21`).
    ///
    /// # Examples
    ///
    /// ```
    /// use corenet::net::Port;
    ///
    /// assert_eq!(Port::try_from(8080.0)?.get(), 8080);
    /// assert_eq!(
    ///     Port::try_from(f64::NAN).unwrap_err().to_string(),
    ///     "Port should be >= 0 and < 65536. Received NaN."
    /// );
    /// # Ok::<(), corenet::Error>(())
    /// ```
    fn try_from(n: f64) -> Result<Port, Error> {
        Port::from_number(n).ok_or_else(|| Error::socket_bad_port(&js_number_to_string(n)))
    }
}

macro_rules! try_from_int {
    ($($t:ty),*) => {$(
        impl TryFrom<$t> for Port {
            type Error = Error;

            /// Any value in `0..=65535`.
            ///
            /// # Errors
            ///
            /// `ERR_SOCKET_BAD_PORT` for a value outside `0..=65535`.
            ///
            /// # Examples
            ///
            /// ```
            /// use corenet::net::Port;
            ///
            #[doc = concat!("assert_eq!(Port::try_from(80_", stringify!($t), ")?.get(), 80);")]
            #[doc = concat!("assert!(Port::try_from(65536_", stringify!($t), ").is_err());")]
            /// # Ok::<(), corenet::Error>(())
            /// ```
            fn try_from(n: $t) -> Result<Port, Error> {
                u16::try_from(n).map(Port).map_err(|_| Error::socket_bad_port(&n.to_string()))
            }
        }
    )*};
}

try_from_int!(i32, u32, i64, u64);

impl FromStr for Port {
    type Err = Error;

    /// Node's check on a string port: not blank, and JavaScript's `Number(s)` is an integer
    /// in `0..=65535`. So surrounding JavaScript whitespace is ignored, and decimal
    /// (`'80'`, `'80.0'`, `'8e1'`, `'+80'`), hex (`'0x50'`), octal (`'0o120'`) and binary
    /// (`'0b1010000'`) literals are accepted.
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_BAD_PORT` for a blank string, anything `Number()` makes `NaN` of (`'0x'`,
    /// `'-0x1'`, `'80a'`), and numbers that are not ports. The message quotes the string as
    /// given (v14 prints it with `%s`: `Received 0x.`, and `Received .` for `''`).
    ///
    /// # Examples
    ///
    /// ```
    /// use corenet::net::Port;
    ///
    /// assert_eq!(" 8080\n".parse::<Port>()?.get(), 8080);
    /// assert_eq!("0x1F90".parse::<Port>()?.get(), 8080);
    /// assert!("".parse::<Port>().is_err());
    /// assert!("-0x1".parse::<Port>().is_err());
    /// # Ok::<(), corenet::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Port, Error> {
        let blank = s.trim_matches(is_js_whitespace).is_empty();
        let port = if blank {
            None
        } else {
            Port::from_number(js_string_to_number(s))
        };
        port.ok_or_else(|| Error::socket_bad_port(s))
    }
}

impl TryFrom<&str> for Port {
    type Error = Error;

    /// The same as [`str::parse`] ([`FromStr`](#impl-FromStr-for-Port)).
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_BAD_PORT`, as for [`FromStr`](#impl-FromStr-for-Port).
    ///
    /// # Examples
    ///
    /// ```
    /// use corenet::net::Port;
    ///
    /// assert_eq!(Port::try_from("0")?, Port::new(0));
    /// # Ok::<(), corenet::Error>(())
    /// ```
    fn try_from(s: &str) -> Result<Port, Error> {
        s.parse()
    }
}

/// JavaScript's WhiteSpace and LineTerminator code points, which `Number()` and `trim()`
/// strip (ECMA-262 `StrWhiteSpaceChar`). Unlike `char::is_whitespace` it has U+FEFF and not
/// U+0085.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{B}' | '\u{C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// JavaScript's `Number(s)` (ECMA-262 `StringToNumber`); `NaN` where it gives `NaN`.
/// Hex/octal/binary literals past 2^53 may round differently from JavaScript, which does not
/// matter for ports.
fn js_string_to_number(s: &str) -> f64 {
    let s = s.trim_matches(is_js_whitespace);
    if s.is_empty() {
        return 0.0;
    }
    let radix = match s.as_bytes() {
        [b'0', b'x' | b'X', ..] => 16,
        [b'0', b'o' | b'O', ..] => 8,
        [b'0', b'b' | b'B', ..] => 2,
        _ => return js_decimal(s),
    };
    let digits = &s[2..];
    if digits.is_empty() {
        return f64::NAN;
    }
    digits
        .chars()
        .try_fold(0.0, |n, c| {
            c.to_digit(radix)
                .map(|d| n * f64::from(radix) + f64::from(d))
        })
        .unwrap_or(f64::NAN)
}

/// `StrDecimalLiteral`: `[+-]` then `Infinity`, or digits with an optional `.` and
/// fraction (at least one digit in all) and an optional exponent `e[+-]digits`.
fn js_decimal(s: &str) -> f64 {
    let (negative, unsigned) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if unsigned == "Infinity" {
        return if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let b = unsigned.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits(0);
    let mut end = int_end;
    let mut mantissa_digits = int_end;
    if end < b.len() && b[end] == b'.' {
        let frac_end = digits(end + 1);
        mantissa_digits += frac_end - (end + 1);
        end = frac_end;
    }
    if mantissa_digits == 0 {
        return f64::NAN;
    }
    if end < b.len() && matches!(b[end], b'e' | b'E') {
        let mut i = end + 1;
        if i < b.len() && matches!(b[i], b'+' | b'-') {
            i += 1;
        }
        let exp_end = digits(i);
        if exp_end == i {
            return f64::NAN;
        }
        end = exp_end;
    }
    if end != b.len() {
        return f64::NAN;
    }
    // The syntax is checked, and Rust's float grammar is a superset of it; its parse is
    // correctly rounded, as JavaScript's is.
    s.parse().unwrap_or(f64::NAN)
}

/// JavaScript's `String(n)` for a number (`Number::toString`): `NaN`, `Infinity`, shortest
/// round-trip digits, exponent form (`1e+21`, `1e-7`) outside `[1e-6, 1e21)`. One known
/// difference: where two shortest digit strings are equally close (`2211434302908726.25`,
/// only past 2^50), JavaScript picks the even one (`...726.2`) and Rust `...726.3`.
fn js_number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    let abs = n.abs();
    if (1e-6..1e21).contains(&abs) {
        return n.to_string();
    }
    let exp = format!("{n:e}");
    match exp.split_once('e') {
        Some((mantissa, power)) if !power.starts_with('-') => format!("{mantissa}e+{power}"),
        _ => exp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_port_message(received: &str) -> String {
        format!("Port should be >= 0 and < 65536. Received {received}.")
    }

    fn assert_bad<T: fmt::Debug>(result: Result<Port, Error>, received: &str, input: T) {
        let err = result.expect_err(&format!("{input:?} should be rejected"));
        assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT", "{input:?}");
        assert_eq!(err.to_string(), bad_port_message(received), "{input:?}");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }

    /// test-net-server-listen-options: `-1`, `NaN`, `123.456`, `65536`, `1/0`, `-1/0` throw;
    /// `0` is accepted (an ephemeral port).
    #[test]
    fn test_net_server_listen_options_numbers() {
        for (n, received) in [
            (-1.0, "-1"),
            (f64::NAN, "NaN"),
            (123.456, "123.456"),
            (65536.0, "65536"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_bad(Port::try_from(n), received, n);
        }
        assert_eq!(Port::try_from(0.0).unwrap(), Port::new(0));
    }

    /// test-net-server-listen-options: the string `'0'` is accepted.
    #[test]
    fn test_net_server_listen_options_strings() {
        assert_eq!("0".parse::<Port>().unwrap(), Port::new(0));
    }

    /// test-net-listen-invalid-port: `4294967295` throws (it passes `>>> 0` but not `<= 0xFFFF`).
    #[test]
    fn test_net_listen_invalid_port() {
        assert_bad(Port::try_from(4294967295.0), "4294967295", 4294967295.0);
        assert_bad(Port::try_from(4294967295_i64), "4294967295", 4294967295_i64);
        assert_bad(Port::try_from(4294967295_u32), "4294967295", 4294967295_u32);
        assert_bad("4294967295".parse(), "4294967295", "4294967295");
    }

    /// test-net-connect-options-port: `''`, `' '`, `'0x'`, `'-0x1'`, `NaN`, `Infinity`, `-1`,
    /// `65536` throw `ERR_SOCKET_BAD_PORT`.
    #[test]
    fn test_net_connect_options_port_bad() {
        for s in ["", " ", "0x", "-0x1"] {
            assert_bad(s.parse(), s, s);
        }
        assert_bad(Port::try_from(f64::NAN), "NaN", f64::NAN);
        assert_bad(Port::try_from(f64::INFINITY), "Infinity", f64::INFINITY);
        assert_bad(Port::try_from(-1), "-1", -1);
        assert_bad(Port::try_from(65536), "65536", 65536);
    }

    /// test-net-connect-options-port: a number, `String(port)` and `'0x' + hex` all name the
    /// same port.
    #[test]
    fn test_net_connect_options_port_good() {
        for port in [1_u16, 80, 8080, 12346, 65535] {
            let expected = Port::from(port);
            assert_eq!(Port::try_from(f64::from(port)).unwrap(), expected);
            assert_eq!(Port::try_from(i64::from(port)).unwrap(), expected);
            assert_eq!(port.to_string().parse::<Port>().unwrap(), expected);
            assert_eq!(format!("0x{port:x}").parse::<Port>().unwrap(), expected);
            assert_eq!(format!("0X{port:X}").parse::<Port>().unwrap(), expected);
        }
    }

    /// node-net-api.md 3.4: hex strings like `'0x1F90'` are accepted.
    #[test]
    fn hex_string_is_a_port() {
        assert_eq!("0x1F90".parse::<Port>().unwrap().get(), 8080);
        assert_eq!(
            "0x0000000000000000001F90".parse::<Port>().unwrap().get(),
            8080
        );
        assert_bad("0x10000".parse(), "0x10000", "0x10000");
        assert_bad("0x1F90g".parse(), "0x1F90g", "0x1F90g");
        assert_bad("0x 1".parse(), "0x 1", "0x 1");
        assert_bad("+0x1".parse(), "+0x1", "+0x1");
    }

    /// What JavaScript's `Number()` accepts beyond plain digits (each checked in Node).
    #[test]
    fn js_number_forms() {
        for (s, port) in [
            (" 80 ", 80),
            ("\t\n80\r\u{A0}\u{FEFF}\u{3000}", 80),
            ("+80", 80),
            ("80.", 80),
            ("80.000", 80),
            ("8e1", 80),
            ("8E+1", 80),
            ("800e-1", 80),
            (".8e2", 80),
            ("0o120", 80),
            ("0b1010000", 80),
            ("-0", 0),
            ("00080", 80),
            ("65535", 65535),
            ("65535.00000000000001", 65535), // rounds to 65535, as in JavaScript
        ] {
            assert_eq!(s.parse::<Port>().map(Port::get), Ok(port), "{s:?}");
        }
        for s in [
            "80a",
            "8 0",
            "1_000",
            "Infinity",
            "-Infinity",
            "+Infinity",
            "infinity",
            "inf",
            "NaN",
            "nan",
            ".",
            "+",
            "-",
            "e1",
            "1e",
            "1e+",
            "80.5",
            "-1",
            "0o8",
            "0b2",
            "65536",
            "65535.5",
            "\u{85}80",
            "１",
            "0x",
            "0X",
            "0b",
            "0o",
        ] {
            assert_bad(s.parse(), s, s);
        }
    }

    /// `trim()` whitespace alone is blank, hence invalid, although `Number(' ')` is 0.
    #[test]
    fn blank_strings_are_invalid() {
        for s in ["", " ", "\t", "\n\r", "\u{FEFF}", "\u{2028}\u{3000}"] {
            assert_eq!(js_string_to_number(s), 0.0);
            assert_bad(s.parse(), s, s);
        }
    }

    #[test]
    fn integers_of_every_width() {
        assert_eq!(Port::try_from(0_i32).unwrap().get(), 0);
        assert_eq!(Port::try_from(65535_u32).unwrap().get(), 65535);
        assert_eq!(Port::try_from(443_u64).unwrap().get(), 443);
        assert_bad(Port::try_from(-1_i64), "-1", -1_i64);
        assert_bad(Port::try_from(i64::MIN), &i64::MIN.to_string(), i64::MIN);
        assert_bad(Port::try_from(u64::MAX), &u64::MAX.to_string(), u64::MAX);
        assert_bad(Port::try_from(65536_u32), "65536", 65536_u32);
    }

    #[test]
    fn floats() {
        assert_eq!(Port::try_from(-0.0).unwrap().get(), 0); // -0 === (-0 >>> 0)
        assert_eq!(Port::try_from(65535.0).unwrap().get(), 65535);
        assert_bad(Port::try_from(0.5), "0.5", 0.5);
        assert_bad(Port::try_from(-0.5), "-0.5", -0.5);
        assert_bad(Port::try_from(65535.5), "65535.5", 65535.5);
        assert_bad(Port::try_from(1e21), "1e+21", 1e21);
        assert_bad(Port::try_from(1.5e300), "1.5e+300", 1.5e300);
        assert_bad(Port::try_from(1e-7), "1e-7", 1e-7);
        assert_bad(Port::try_from(0.000001), "0.000001", 0.000001);
        assert_bad(Port::try_from(1e20), "100000000000000000000", 1e20);
    }

    #[test]
    fn conversions_and_display() {
        let port = Port::from(8080);
        assert_eq!(u16::from(port), 8080);
        assert_eq!(port.to_string(), "8080");
        assert_eq!(format!("{port:>6}"), "  8080");
        assert_eq!(Port::default(), Port::new(0));
        assert_eq!(Port::try_from("443").unwrap(), Port::new(443));
        assert!(Port::new(1) < Port::new(2));
    }

    #[test]
    fn js_number_to_string_matches_javascript() {
        for (n, s) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (1.2345e25, "1.2345e+25"),
            (1e-7, "1e-7"),
            (2.5e-10, "2.5e-10"),
            (999999999999999900000.0, "999999999999999900000"),
        ] {
            assert_eq!(js_number_to_string(n), s, "{n:e}");
        }
    }
}
