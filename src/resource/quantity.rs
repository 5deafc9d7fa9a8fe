//! Resource quantities as people write them: [`Memory`] ("512Mi") and [`Cpus`] ("0.5").
//!
//! # Guarantees
//! - Parsing is exact: no value is rounded. A quantity that is not a whole number of bytes
//!   or millicores is an error, never a silently truncated value.
//! - Parse errors name the rule that was broken and show an example of a valid value, so a
//!   person can fix the YAML without reading this file.
//! - Both types deserialize from a YAML/JSON number or string and serialize as a canonical
//!   string, so a value survives a serialize → parse round trip unchanged.
//! - Range rules that depend on context (at least 64Mi, at most the host's CPU count) are
//!   not checked here; `validate` checks them so it can name the field.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Why a quantity could not be parsed. Each message names the rule and shows an example.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    #[error("memory must not be empty; write a size such as 512Mi")]
    EmptyMemory,
    #[error("`{0}` is negative; memory must be a positive size such as 512Mi")]
    NegativeMemory(String),
    #[error(
        "`{0}` uses the suffix `m`, which means milli (thousandths) and cannot be a byte count; \
         write Mi for mebibytes (such as 512Mi) or M for megabytes (such as 512M)"
    )]
    MilliMemory(String),
    #[error(
        "`{0}` is not a memory size; write a whole number of bytes, or a number with one of \
         the suffixes Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000), such as 512Mi"
    )]
    InvalidMemory(String),
    #[error("`{0}` is not a whole number of bytes; write a size such as 512Mi or 1.5Gi")]
    FractionalBytes(String),
    #[error("`{0}` is too large; memory must be at most 2^64 - 1 bytes (about 16 EiB)")]
    MemoryTooLarge(String),
    #[error("cpus must not be empty; write a CPU count such as 0.5, 2 or 500m")]
    EmptyCpus,
    #[error("`{0}` is negative; cpus must be a positive CPU count such as 0.5, 2 or 500m")]
    NegativeCpus(String),
    #[error(
        "`{0}` is not a CPU count; write a decimal number of CPUs such as 0.5 or 2, \
         or millicores such as 500m"
    )]
    InvalidCpus(String),
    #[error(
        "`{0}` is finer than one millicore (0.001 CPU); use at most three decimal places, \
         such as 0.125, or whole millicores such as 125m"
    )]
    CpusTooPrecise(String),
    #[error("`{0}` is too large; cpus must be at most 4294967.295")]
    CpusTooLarge(String),
}

/// A number of bytes, written like Kubernetes and Docker Compose do ("512Mi", "1Gi", "64M").
///
/// Two values are equal when they are the same number of bytes, however they were written
/// ("1Gi" == "1024Mi"); [`Display`](fmt::Display) and serialization keep the spelling the
/// user chose, normalised (no leading zeros, no trailing fractional zeros, `k` for kilo).
#[derive(Debug, Clone)]
pub struct Memory {
    bytes: u64,
    /// The canonical spelling; always parses back to `bytes`.
    text: String,
}

impl Memory {
    /// A quantity of exactly `bytes`, spelled with the largest binary suffix that divides it
    /// (so 536870912 is shown as "512Mi").
    pub fn from_bytes(bytes: u64) -> Self {
        let text = match BINARY_SUFFIXES
            .iter()
            .rev()
            .find(|(_, factor)| bytes != 0 && bytes.is_multiple_of(*factor))
        {
            Some((suffix, factor)) => format!("{}{suffix}", bytes / factor),
            None => bytes.to_string(),
        };
        Memory { bytes, text }
    }

    /// The quantity in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The canonical spelling, such as "512Mi".
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Binary suffixes, smallest first.
const BINARY_SUFFIXES: [(&str, u64); 4] = [
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
];

/// The multiplier of a memory suffix and its canonical spelling; `None` for unknown ones.
fn memory_suffix(suffix: &str) -> Option<(&'static str, u64)> {
    if let Some(&(canonical, factor)) = BINARY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Some((canonical, factor));
    }
    match suffix {
        "" => Some(("", 1)),
        // Docker writes kilo as `K`, Kubernetes as `k`; both mean 1000 here, spelled `k`.
        "k" | "K" => Some(("k", 1_000)),
        "M" => Some(("M", 1_000_000)),
        "G" => Some(("G", 1_000_000_000)),
        "T" => Some(("T", 1_000_000_000_000)),
        _ => None,
    }
}

impl FromStr for Memory {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(QuantityError::EmptyMemory);
        }
        if s.starts_with('-') {
            return Err(QuantityError::NegativeMemory(s.to_owned()));
        }
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        if suffix == "m" {
            return Err(QuantityError::MilliMemory(s.to_owned()));
        }
        let invalid = || QuantityError::InvalidMemory(s.to_owned());
        let (canonical_suffix, factor) = memory_suffix(suffix).ok_or_else(invalid)?;
        let decimal = Decimal::parse(number).ok_or_else(invalid)?;
        let bytes = match decimal.scale(u128::from(factor)) {
            Ok(bytes) => {
                u64::try_from(bytes).map_err(|_| QuantityError::MemoryTooLarge(s.into()))?
            }
            Err(Inexact::Fraction) => return Err(QuantityError::FractionalBytes(s.to_owned())),
            Err(Inexact::Overflow) => return Err(QuantityError::MemoryTooLarge(s.to_owned())),
        };
        Ok(Memory {
            bytes,
            text: format!("{}{canonical_suffix}", decimal.canonical()),
        })
    }
}

impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Memory {}

impl Hash for Memory {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must agree with `PartialEq`, which compares bytes only.
        self.bytes.hash(state);
    }
}

impl PartialOrd for Memory {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Memory {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Memory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `deserialize_any` so that both `memory: 1073741824` and `memory: 1Gi` work; errors
        // go through `de::Error::custom`, so the YAML parser adds the line and column.
        deserializer.deserialize_any(QuantityVisitor::<Memory>::new(
            "a memory size such as 512Mi",
        ))
    }
}

/// A CPU count, stored exactly as millicores (thousandths of a CPU).
///
/// Written as a number of CPUs ("0.5", "2", or a YAML number) or as millicores ("500m");
/// serialized as a decimal string of CPUs ("0.5"). Zero parses: whether it is allowed is
/// a range rule, checked by `validate` together with the host's CPU count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cpus {
    millis: u32,
}

impl Cpus {
    /// A count of `millis` thousandths of a CPU.
    pub fn from_millis(millis: u32) -> Self {
        Cpus { millis }
    }

    /// The count in millicores (1000 per CPU).
    pub fn millis(&self) -> u32 {
        self.millis
    }

    /// The count in Docker's `NanoCpus` unit (10^9 per CPU).
    pub fn nano_cpus(&self) -> i64 {
        i64::from(self.millis) * 1_000_000
    }

    /// The count as a float, for comparisons and display only (the stored value is exact).
    pub fn as_f64(&self) -> f64 {
        f64::from(self.millis) / 1000.0
    }
}

impl FromStr for Cpus {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(QuantityError::EmptyCpus);
        }
        if s.starts_with('-') {
            return Err(QuantityError::NegativeCpus(s.to_owned()));
        }
        let (number, factor) = match s.strip_suffix('m') {
            Some(number) => (number, 1),
            None => (s, 1000),
        };
        let decimal = Decimal::parse(number).ok_or_else(|| QuantityError::InvalidCpus(s.into()))?;
        let millis = match decimal.scale(factor) {
            Ok(millis) => {
                u32::try_from(millis).map_err(|_| QuantityError::CpusTooLarge(s.into()))?
            }
            Err(Inexact::Fraction) => return Err(QuantityError::CpusTooPrecise(s.to_owned())),
            Err(Inexact::Overflow) => return Err(QuantityError::CpusTooLarge(s.to_owned())),
        };
        Ok(Cpus { millis })
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, thousandths) = (self.millis / 1000, self.millis % 1000);
        if thousandths == 0 {
            write!(f, "{whole}")
        } else {
            let fraction = format!("{thousandths:03}");
            write!(f, "{whole}.{}", fraction.trim_end_matches('0'))
        }
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor::<Cpus>::new(
            "a CPU count such as 0.5, 2 or 500m",
        ))
    }
}

/// Accepts a string, an integer or a float, and parses them all through `FromStr`, so that
/// YAML `cpus: 0.5` and `cpus: "0.5"` follow exactly the same rules.
struct QuantityVisitor<T> {
    expecting: &'static str,
    _type: std::marker::PhantomData<T>,
}

impl<T> QuantityVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        QuantityVisitor {
            expecting,
            _type: std::marker::PhantomData,
        }
    }
}

impl<T> Visitor<'_> for QuantityVisitor<T>
where
    T: FromStr<Err = QuantityError>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // Rust prints the shortest decimal that reads back as the same float, without an
        // exponent, so `0.1` becomes "0.1" (not 0.1000000000000000055…) and the exact
        // decimal rules apply to what the user typed. NaN and infinities fail to parse.
        self.visit_str(&v.to_string())
    }
}

/// A non-negative decimal number exactly as written: digits before and after the point.
struct Decimal<'a> {
    int: &'a str,
    frac: &'a str,
}

/// Why a decimal could not be scaled to a whole number.
enum Inexact {
    Fraction,
    Overflow,
}

impl<'a> Decimal<'a> {
    /// Parses `123`, `1.5` or `.5`; rejects signs, exponents, `1.` and anything else.
    fn parse(s: &'a str) -> Option<Self> {
        let (int, frac) = match s.split_once('.') {
            Some((_, "")) => return None,
            Some((int, frac)) => (int, frac),
            None => (s, ""),
        };
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return None;
        }
        Some(Decimal {
            int,
            frac: frac.trim_end_matches('0'),
        })
    }

    /// `self × factor`, if that is a whole number that fits in a `u128`.
    fn scale(&self, factor: u128) -> Result<u128, Inexact> {
        // 10^38 is the largest power of ten in a u128. A value with more significant
        // decimals than that is reported as a fraction: that is what it almost surely is,
        // and no real quantity needs that many digits.
        let places = u32::try_from(self.frac.len()).map_err(|_| Inexact::Fraction)?;
        let denominator = 10u128.checked_pow(places).ok_or(Inexact::Fraction)?;
        let mut numerator: u128 = 0;
        for b in self.int.bytes().chain(self.frac.bytes()) {
            numerator = numerator
                .checked_mul(10)
                .and_then(|n| n.checked_add(u128::from(b - b'0')))
                .ok_or(Inexact::Overflow)?;
        }
        let scaled = numerator.checked_mul(factor).ok_or(Inexact::Overflow)?;
        if scaled % denominator != 0 {
            return Err(Inexact::Fraction);
        }
        Ok(scaled / denominator)
    }

    /// The number without leading zeros or trailing fractional zeros: "007.50" → "7.5".
    fn canonical(&self) -> String {
        let int = self.int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        if self.frac.is_empty() {
            int.to_owned()
        } else {
            format!("{int}.{}", self.frac)
        }
    }
}

impl schemars::JsonSchema for Memory {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Memory".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A byte size: 512Mi, 1Gi, 64M, or a plain number of bytes.",
            "type": ["string", "integer"],
            "pattern": "^[0-9]+(\\.[0-9]+)?([KkMGTPE]i?)?$",
            "examples": ["512Mi", "1Gi"]
        })
    }
}

impl schemars::JsonSchema for Cpus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cpus".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "CPUs: a number such as 0.5 or 2, or millicores such as 500m.",
            "type": ["string", "number"],
            "pattern": "^[0-9]+(\\.[0-9]+)?m?$",
            "examples": ["0.5", "2", "500m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn memory(s: &str) -> Memory {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn cpus(s: &str) -> Cpus {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    #[test]
    fn memory_binary_suffixes_are_powers_of_1024() {
        assert_eq!(memory("1Ki").bytes(), 1024);
        assert_eq!(memory("512Mi").bytes(), 512 * 1024 * 1024);
        assert_eq!(memory("1Gi").bytes(), 1 << 30);
        assert_eq!(memory("2Ti").bytes(), 2 << 40);
    }

    #[test]
    fn memory_decimal_suffixes_are_powers_of_1000() {
        assert_eq!(memory("1k").bytes(), 1_000);
        assert_eq!(memory("1K").bytes(), 1_000);
        assert_eq!(memory("64M").bytes(), 64_000_000);
        assert_eq!(memory("3G").bytes(), 3_000_000_000);
        assert_eq!(memory("1T").bytes(), 1_000_000_000_000);
    }

    #[test]
    fn memory_without_suffix_is_bytes() {
        assert_eq!(memory("1048576").bytes(), 1_048_576);
        assert_eq!(memory("0").bytes(), 0);
    }

    #[test]
    fn memory_accepts_fractions_that_are_whole_bytes() {
        assert_eq!(memory("1.5Gi").bytes(), 3 << 29);
        assert_eq!(memory("0.5Ki").bytes(), 512);
        assert_eq!(memory(".5k").bytes(), 500);
    }

    #[test]
    fn memory_display_keeps_the_users_unit_but_normalises_the_number() {
        assert_eq!(memory("512Mi").to_string(), "512Mi");
        assert_eq!(memory("0512Mi").to_string(), "512Mi");
        assert_eq!(memory("1.50Gi").to_string(), "1.5Gi");
        assert_eq!(memory("1.0Gi").to_string(), "1Gi");
        assert_eq!(memory(".5k").to_string(), "0.5k");
        assert_eq!(memory("64K").to_string(), "64k");
        assert_eq!(memory("1024Mi").to_string(), "1024Mi");
    }

    #[test]
    fn memory_equality_compares_bytes_not_spelling() {
        assert_eq!(memory("1Gi"), memory("1024Mi"));
        assert!(memory("1G") < memory("1Gi"));
    }

    #[test]
    fn memory_from_bytes_picks_the_largest_exact_binary_suffix() {
        assert_eq!(Memory::from_bytes(512 << 20).to_string(), "512Mi");
        assert_eq!(Memory::from_bytes(1536).to_string(), "1536");
        assert_eq!(Memory::from_bytes(3 << 10).to_string(), "3Ki");
        assert_eq!(Memory::from_bytes(0).to_string(), "0");
    }

    #[test]
    fn memory_lowercase_m_is_rejected_as_milli() {
        let err = "128m".parse::<Memory>().unwrap_err();
        assert_eq!(err, QuantityError::MilliMemory("128m".into()));
        let message = err.to_string();
        assert!(
            message.contains("milli") && message.contains("128m"),
            "{message}"
        );
        assert!(message.contains("Mi"), "should suggest Mi: {message}");
    }

    #[test]
    fn memory_rejects_negative_empty_garbage_fractional_and_huge_values() {
        let err = |s: &str| s.parse::<Memory>().unwrap_err();
        assert_eq!(err(""), QuantityError::EmptyMemory);
        assert_eq!(err("-1Gi"), QuantityError::NegativeMemory("-1Gi".into()));
        assert!(
            err("-1Gi")
                .to_string()
                .contains("positive size such as 512Mi")
        );
        for garbage in [
            "abc", "Gi", "1 Gi", " 1Gi", "1Gi ", "1gi", "1Pi", "1e3", "1.", "+1", "1..5", "0x10",
        ] {
            assert_eq!(
                err(garbage),
                QuantityError::InvalidMemory(garbage.into()),
                "{garbage:?}"
            );
        }
        assert_eq!(err("0.5"), QuantityError::FractionalBytes("0.5".into()));
        assert_eq!(
            err("1.0001k"),
            QuantityError::FractionalBytes("1.0001k".into())
        );
        assert_eq!(
            err("18446744073709551616"),
            QuantityError::MemoryTooLarge("18446744073709551616".into())
        );
        assert_eq!(
            err("99999999Ti"),
            QuantityError::MemoryTooLarge("99999999Ti".into())
        );
        let long = "9".repeat(60);
        assert_eq!(err(&long), QuantityError::MemoryTooLarge(long.clone()));
    }

    #[test]
    fn memory_accepts_the_largest_u64() {
        assert_eq!(memory("18446744073709551615").bytes(), u64::MAX);
    }

    #[test]
    fn memory_deserializes_from_yaml_strings_and_integers() {
        let m: Memory = serde_saphyr::from_str("512Mi").unwrap();
        assert_eq!(m.bytes(), 512 << 20);
        let m: Memory = serde_saphyr::from_str("1073741824").unwrap();
        assert_eq!(m.bytes(), 1 << 30);
        let m: Memory = serde_json::from_str("1024").unwrap();
        assert_eq!(m.bytes(), 1024);
    }

    #[test]
    fn memory_deserialize_errors_carry_the_rule() {
        let err = serde_saphyr::from_str::<Memory>("-5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("positive size such as 512Mi"), "{err}");
        let err = serde_saphyr::from_str::<Memory>("1.5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("whole number of bytes"), "{err}");
        let err = serde_json::from_str::<Memory>("[1]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a memory size such as 512Mi"), "{err}");
    }

    #[test]
    fn memory_serializes_as_its_canonical_string() {
        assert_eq!(
            serde_json::to_string(&memory("0512Mi")).unwrap(),
            "\"512Mi\""
        );
        let back: Memory =
            serde_json::from_str(&serde_json::to_string(&memory("7")).unwrap()).unwrap();
        assert_eq!(back.bytes(), 7);
    }

    #[test]
    fn cpus_accepts_decimal_cpus_and_millicores() {
        assert_eq!(cpus("0.5").millis(), 500);
        assert_eq!(cpus("2").millis(), 2000);
        assert_eq!(cpus("500m").millis(), 500);
        assert_eq!(cpus("1.125").millis(), 1125);
        assert_eq!(cpus("2.000").millis(), 2000);
        assert_eq!(cpus(".25").millis(), 250);
        assert_eq!(cpus("0").millis(), 0);
    }

    #[test]
    fn cpus_nano_cpus_is_cpus_times_ten_to_the_ninth() {
        assert_eq!(cpus("0.5").nano_cpus(), 500_000_000);
        assert_eq!(cpus("2").nano_cpus(), 2_000_000_000);
        assert_eq!(
            Cpus::from_millis(u32::MAX).nano_cpus(),
            i64::from(u32::MAX) * 1_000_000
        );
    }

    #[test]
    fn cpus_display_is_a_decimal_without_trailing_zeros() {
        assert_eq!(cpus("500m").to_string(), "0.5");
        assert_eq!(cpus("2").to_string(), "2");
        assert_eq!(cpus("1.250").to_string(), "1.25");
        assert_eq!(cpus("5m").to_string(), "0.005");
        assert_eq!(cpus("0").to_string(), "0");
    }

    #[test]
    fn cpus_rejects_negative_garbage_and_sub_millicore_precision() {
        let err = |s: &str| s.parse::<Cpus>().unwrap_err();
        assert_eq!(err(""), QuantityError::EmptyCpus);
        assert_eq!(err("-1"), QuantityError::NegativeCpus("-1".into()));
        assert_eq!(err("-500m"), QuantityError::NegativeCpus("-500m".into()));
        for garbage in [
            "two", "1 ", "0,5", "1e3", "m", "500M", "1.5.5", "NaN", "inf", "+1",
        ] {
            assert_eq!(
                err(garbage),
                QuantityError::InvalidCpus(garbage.into()),
                "{garbage:?}"
            );
        }
        assert_eq!(
            err("0.0001"),
            QuantityError::CpusTooPrecise("0.0001".into())
        );
        assert_eq!(err("0.5m"), QuantityError::CpusTooPrecise("0.5m".into()));
        assert_eq!(
            err("5000000"),
            QuantityError::CpusTooLarge("5000000".into())
        );
    }

    #[test]
    fn cpus_deserializes_from_yaml_numbers_and_strings_alike() {
        let from = |yaml: &str| serde_saphyr::from_str::<Cpus>(yaml).map(|c| c.millis());
        assert_eq!(from("0.5").unwrap(), 500);
        assert_eq!(from("\"0.5\"").unwrap(), 500);
        assert_eq!(from("2").unwrap(), 2000);
        assert_eq!(from("500m").unwrap(), 500);
        assert_eq!(
            from("0.1").unwrap(),
            100,
            "0.1 is not exact in binary but is in decimal"
        );
        let err = from("-0.5").unwrap_err().to_string();
        assert!(err.contains("negative"), "{err}");
        let err = from("0.0005").unwrap_err().to_string();
        assert!(err.contains("millicore"), "{err}");
        assert!(
            from(".nan").is_err(),
            "the YAML parser refuses non-finite floats"
        );
        let err = serde_json::from_str::<Cpus>("\"NaN\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a CPU count"), "{err}");
    }

    #[test]
    fn cpus_serializes_as_a_string() {
        assert_eq!(serde_json::to_string(&cpus("500m")).unwrap(), "\"0.5\"");
    }

    proptest! {
        #[test]
        fn memory_display_parses_back_to_the_same_bytes(n in 0u64..(1 << 44), unit in 0usize..9) {
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"][unit];
            if let Ok(m) = format!("{n}{suffix}").parse::<Memory>() {
                let again: Memory = m.to_string().parse().unwrap();
                prop_assert_eq!(again.bytes(), m.bytes());
                prop_assert_eq!(again.to_string(), m.to_string());
            }
        }

        #[test]
        fn memory_from_bytes_round_trips(n in any::<u64>()) {
            let m = Memory::from_bytes(n);
            prop_assert_eq!(m.to_string().parse::<Memory>().unwrap().bytes(), n);
        }

        #[test]
        fn cpus_display_parses_back_to_the_same_millis(millis in any::<u32>()) {
            let c = Cpus::from_millis(millis);
            prop_assert_eq!(c.to_string().parse::<Cpus>().unwrap(), c);
        }

        #[test]
        fn memory_parse_never_panics(s in "\\PC{0,24}") {
            let _ = s.parse::<Memory>();
            let _ = s.parse::<Cpus>();
        }
    }
}
