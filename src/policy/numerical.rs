//! Number parsing for the numerical policy, with the exact acceptance rules of Go's
//! `strconv.ParseFloat(s, 64)`, which Flux uses on every candidate:
//!
//! - decimal: optional sign, digits with at most one `.`, optional `e`/`E` exponent
//!   (`-1.5`, `.5`, `5.`, `007`, `1e3`);
//! - `_` between digits (`1_000`), as in Go literals;
//! - hexadecimal with a mandatory binary exponent (`0x1p-2`, `0x1.8P+1`);
//! - `inf`, `infinity` (any case, optional sign) and `nan` (any case, no sign);
//! - a finite literal that overflows f64 (`1e400`) is an error in Go, so it is not a number.
//!
//! Leading or trailing whitespace, `+nan`, and a bare `0x10` are not numbers.

use std::cmp::Ordering;

use super::Order;

/// How two parsed keys rank: `Greater` means `a` is the better pick under `order`. NaN never
/// beats a number (Flux's outcome with NaN depends on iteration order); -0 equals 0.
pub(crate) fn cmp(order: Order, a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => {
            let by_value = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            match order {
                Order::Asc => by_value,
                Order::Desc => by_value.reverse(),
            }
        }
    }
}

/// Go's `ParseFloat(s, 64)`, or `None` where Go returns an error. Never allocates unless `s`
/// contains `_`.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    // Fast path: up to 15 plain digits convert exactly (10^15 < 2^53).
    if !b.is_empty() && b.len() <= 15 && b.iter().all(u8::is_ascii_digit) {
        let n = b.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        #[allow(clippy::cast_precision_loss)] // exact: n < 2^53
        return Some(n as f64);
    }
    parse_general(s)
}

fn parse_general(s: &str) -> Option<f64> {
    if let Some(special) = special(s) {
        return Some(special);
    }
    let (negative, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let underscores = s.contains('_');
    if underscores && !underscores_ok(s) {
        return None;
    }
    let bb = body.as_bytes();
    if bb.len() > 2 && bb[0] == b'0' && (bb[1] | 0x20) == b'x' {
        return parse_hex(negative, &bb[2..]);
    }
    // Rust's parser has the same decimal grammar as Go's once `_` is gone and the special
    // words (which Rust also accepts, with other rules) are ruled out by the charset.
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    let value: f64 = if underscores {
        s.replace('_', "").parse().ok()?
    } else {
        s.parse().ok()?
    };
    // Go reports overflow as an error; Flux treats that as "not numeric".
    value.is_finite().then_some(value)
}

/// `inf`, `infinity` with an optional sign, `nan` without one; any letter case.
fn special(s: &str) -> Option<f64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1.0, &s[1..]),
        b'-' => (-1.0, &s[1..]),
        _ => {
            if s.eq_ignore_ascii_case("nan") {
                return Some(f64::NAN);
            }
            (1.0, s)
        }
    };
    (rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity"))
        .then_some(sign * f64::INFINITY)
}

/// Go's rule for `_` in number literals: only between digits, or between the base prefix and a
/// digit.
fn underscores_ok(s: &str) -> bool {
    #[derive(PartialEq)]
    enum Saw {
        Start,
        Digit,
        Underscore,
        Other,
    }
    let mut b = s.as_bytes();
    if let [b'+' | b'-', rest @ ..] = b {
        b = rest;
    }
    let mut saw = Saw::Start;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        hex = (b[1] | 0x20) == b'x';
        saw = Saw::Digit;
        b = &b[2..];
    }
    for &c in b {
        if c.is_ascii_digit() || (hex && matches!(c | 0x20, b'a'..=b'f')) {
            saw = Saw::Digit;
        } else if c == b'_' {
            if saw != Saw::Digit {
                return false;
            }
            saw = Saw::Underscore;
        } else if saw == Saw::Underscore {
            return false;
        } else {
            saw = Saw::Other;
        }
    }
    saw != Saw::Underscore
}

/// The part after `0x`: hex digits with at most one `.`, then `p`, a signed decimal exponent.
fn parse_hex(negative: bool, b: &[u8]) -> Option<f64> {
    let mut mantissa: u64 = 0;
    let mut sticky = false; // a non-zero digit did not fit in the mantissa
    let mut digits = 0i64; // significant digits seen (after leading zeros)
    let mut kept = 0i64; // digits kept in the mantissa
    let mut point = 0i64; // significant digits before the point
    let mut saw_point = false;
    let mut saw_digits = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'_' {
            i += 1;
            continue;
        }
        if c == b'.' {
            if saw_point {
                break;
            }
            saw_point = true;
            point = digits;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        saw_digits = true;
        i += 1;
        if d == 0 && digits == 0 {
            // Leading zero: after the point it shifts the value right by one digit.
            point -= 1;
            continue;
        }
        digits += 1;
        if kept < 16 {
            mantissa = mantissa * 16 + u64::from(d);
            kept += 1;
        } else if d != 0 {
            sticky = true;
        }
    }
    if !saw_digits {
        return None;
    }
    if !saw_point {
        point = digits;
    }
    // The binary exponent is mandatory for hex floats.
    if !matches!(b.get(i), Some(b'p' | b'P')) {
        return None;
    }
    i += 1;
    let mut exp_sign = 1i64;
    match b.get(i) {
        Some(b'+') => i += 1,
        Some(b'-') => {
            exp_sign = -1;
            i += 1;
        }
        _ => {}
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut exp = 0i64;
    while let Some(&c) = b.get(i) {
        if c == b'_' {
        } else if c.is_ascii_digit() {
            // Saturate: anything this large over- or underflows anyway.
            if exp < 100_000 {
                exp = exp * 10 + i64::from(c - b'0');
            }
        } else {
            return None;
        }
        i += 1;
    }
    let exp2 = 4 * point + exp_sign * exp - 4 * kept;
    let magnitude = round_to_f64(mantissa, sticky, exp2)?;
    Some(if negative { -magnitude } else { magnitude })
}

/// `mantissa × 2^exp2` rounded to nearest-even (with `sticky` standing for lost low bits);
/// `None` on overflow, which Go reports as an error.
fn round_to_f64(mantissa: u64, sticky: bool, exp2: i64) -> Option<f64> {
    if mantissa == 0 {
        return Some(0.0);
    }
    let lz = mantissa.leading_zeros();
    let m = mantissa << lz;
    let e = exp2 - i64::from(lz); // value = m × 2^e with m in [2^63, 2^64)
    let mut top = e + 63; // exponent of the leading bit
    if top > 1023 {
        return None;
    }
    let normal = top >= -1022;
    // Bits to drop so that the unit in the last place is 2^(top-52), or 2^-1074 if subnormal.
    let shift = if normal { 11 } else { -1074 - e };
    if shift > 64 {
        return Some(0.0);
    }
    let shift = u32::try_from(shift).ok()?;
    let (mut kept, rest) = if shift == 64 {
        (0, m)
    } else {
        (m >> shift, m & ((1u64 << shift) - 1))
    };
    let half = 1u64 << (shift - 1);
    if rest > half || (rest == half && (sticky || kept & 1 == 1)) {
        kept += 1;
    }
    let bits = if normal {
        if kept == 1 << 53 {
            kept >>= 1;
            top += 1;
            if top > 1023 {
                return None;
            }
        }
        let biased = u64::try_from(top + 1023).ok()?;
        (biased << 52) | (kept & ((1 << 52) - 1))
    } else {
        // A subnormal that rounds up to 2^52 is exactly the smallest normal: same bits.
        kept
    };
    Some(f64::from_bits(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_accepts() {
        let table: &[(&str, f64)] = &[
            ("0", 0.0),
            ("1707400000", 1_707_400_000.0),
            ("007", 7.0),
            ("-1", -1.0),
            ("+1", 1.0),
            ("1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("-.5", -0.5),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("1e+3", 1000.0),
            ("2.5e1", 25.0),
            ("1_000", 1000.0),
            ("1_0.2_5", 10.25),
            ("1e1_0", 1e10),
            ("12345678901234567890", 12_345_678_901_234_567_890.0),
            ("9007199254740993", 9_007_199_254_740_992.0), // beyond 2^53: rounds
            ("1e-400", 0.0),                               // underflow is not an error in Go
            ("0x1p-2", 0.25),
            ("0x1P+2", 4.0),
            ("0X1.8p1", 3.0),
            ("0x.8p1", 1.0),
            ("0x1.p0", 1.0),
            ("-0x1p0", -1.0),
            ("0x_1p0", 1.0),
            ("0x1_0p0", 16.0),
            ("0x00001p4", 16.0),
            ("0x0.01p8", 1.0),
            ("0xAbCp0", 2748.0),
            ("0x1p-1074", 5e-324),
            ("0x1p-1022", f64::MIN_POSITIVE),
            ("0x1.fffffffffffffp1023", f64::MAX),
            ("0x1.0000000000001p0", 1.0 + f64::EPSILON),
            // Exactly half an ulp: ties to even.
            ("0x1.00000000000008p0", 1.0),
            ("0x1.00000000000018p0", 1.0 + 2.0 * f64::EPSILON),
            // Half an ulp plus a lost digit rounds up.
            ("0x1.000000000000080000000001p0", 1.0 + f64::EPSILON),
            // Half the smallest subnormal ties to zero; anything above rounds up to it.
            ("0x1p-1075", 0.0),
            ("0x1.0000000000001p-1075", 5e-324),
            ("0x1p-2000", 0.0),
            ("inf", f64::INFINITY),
            ("+Inf", f64::INFINITY),
            ("-INFINITY", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
        ];
        for (s, want) in table {
            let got = parse_go_float(s).unwrap_or_else(|| panic!("{s:?} should parse"));
            assert!(
                got.to_bits() == want.to_bits(),
                "{s:?}: got {got:e}, want {want:e}"
            );
        }
        assert!(parse_go_float("nan").is_some_and(f64::is_nan));
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
    }

    #[test]
    fn go_rejects() {
        for s in [
            "",
            " 1",
            "1 ",
            "latest",
            "v1",
            "1.2.3",
            "1..2",
            "1e",
            "1e+",
            "e5",
            ".",
            "-",
            "+",
            "--1",
            "+-1",
            "1e5.5",
            "1,5",
            // Overflow is a range error in Go.
            "1e400",
            "-1e400",
            "0x1p1024",
            "0x2p1023",
            // Specials: no sign on nan, exact words only.
            "+nan",
            "-nan",
            "nanx",
            "infin",
            "infinityy",
            "in",
            // Hex floats need digits and the p exponent.
            "0x",
            "0x10",
            "0x1p",
            "0x1p+",
            "0xp1",
            "0x.p1",
            "0x1e1",
            "0x1p_1",
            "0xg1p0",
            // Underscores only between digits.
            "_1",
            "1_",
            "1__0",
            "1._5",
            "1_.5",
            "1e_5",
            "1_e5",
            // Other bases are not floats.
            "0b1",
            "0o7",
            // Non-ASCII digits.
            "١٢",
        ] {
            assert_eq!(parse_go_float(s), None, "{s:?} must not be a number");
        }
    }
}
