//! Money: a decimal amount in an ISO 4217 currency. Never a float; every rounding names
//! its strategy where it happens.
#![deny(
    clippy::float_arithmetic,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::quote;

/// The largest amount the API accepts anywhere (a price, tax, fee, discount, payment
/// split, prepayment, and an order's total): 1,000,000,000,000 in the currency's major
/// unit. Far below `Decimal::MAX` (about 7.9e28), so sums of thousands of such amounts
/// and their products with quantities and shares cannot overflow.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// ISO 4217 codes this deployment accepts, with their minor units (decimal places).
const CURRENCIES: &[(&str, u32)] = &[
    ("AUD", 2),
    ("BHD", 3),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("SGD", 2),
    ("USD", 2),
];

/// A known ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(&'static str, u32);

impl Currency {
    pub fn parse(field: &str, code: &str) -> Result<Currency> {
        CURRENCIES.iter().find(|(c, _)| *c == code).map(|&(c, minor)| Currency(c, minor)).ok_or_else(|| {
            Error::validation(field, format!("unknown currency {code:?}: expected an ISO 4217 code such as \"CNY\""))
        })
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    /// Decimal places the currency allows.
    pub fn minor_units(self) -> u32 {
        self.1
    }

    /// Parses an amount written as a decimal string (`"129.90"`), not negative, with at
    /// most the currency's decimal places and at most [`MAX_AMOUNT`]. `field` names the
    /// input for the error; the error quotes at most the start of a long value.
    pub fn parse_amount(self, field: &str, text: &str) -> Result<Decimal> {
        let malformed =
            || Error::validation(field, format!("{} is not a decimal amount such as \"129.90\"", quote(text)));
        if text.starts_with('-') {
            return Err(Error::validation(field, "must not be negative"));
        }
        let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
        let well_formed =
            !int.is_empty() && !frac.is_empty() && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
        if !well_formed {
            return Err(malformed());
        }
        let significant = int.trim_start_matches('0');
        // More integer digits than MAX_AMOUNT has cannot be a valid amount, whatever
        // `Decimal` could hold.
        if significant.len() > 13 {
            return Err(too_large(field));
        }
        let amount = Decimal::from_str(text).map_err(|_| malformed())?;
        if amount.scale() > self.1 {
            return Err(Error::validation(
                field,
                format!("{} allows at most {} decimal places, got {}", self.0, self.1, quote(text)),
            ));
        }
        if amount > MAX_AMOUNT {
            return Err(too_large(field));
        }
        Ok(self.normalize(amount))
    }

    /// The amount with exactly the currency's decimal places (no rounding: callers
    /// round first with a named strategy).
    fn normalize(self, amount: Decimal) -> Decimal {
        let mut amount = amount;
        amount.rescale(self.1);
        amount
    }

    /// Rounds to the currency's minor units, half away from zero (commercial rounding):
    /// used for amounts the customer is asked to pay.
    pub fn round_half_up(self, amount: Decimal) -> Decimal {
        self.normalize(amount.round_dp_with_strategy(self.1, RoundingStrategy::MidpointAwayFromZero))
    }
}

/// The error for an amount above [`MAX_AMOUNT`], or a sum or product that would be.
pub fn too_large(field: &str) -> Error {
    Error::validation(field, format!("must be at most {MAX_AMOUNT}"))
}

/// `a + b`, or the field's error when the sum passes [`MAX_AMOUNT`].
pub fn add(field: &str, a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_add(b).filter(|s| s.abs() <= MAX_AMOUNT).ok_or_else(|| too_large(field))
}

/// `a × b`, or the field's error when the product passes [`MAX_AMOUNT`].
pub fn mul(field: &str, a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_mul(b).filter(|p| p.abs() <= MAX_AMOUNT).ok_or_else(|| too_large(field))
}

/// `a − b`, or the field's error when the difference passes [`MAX_AMOUNT`].
pub fn sub(field: &str, a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_sub(b).filter(|d| d.abs() <= MAX_AMOUNT).ok_or_else(|| too_large(field))
}

/// The sum of `amounts`, or the field's error when it passes [`MAX_AMOUNT`].
pub fn sum(field: &str, amounts: impl IntoIterator<Item = Decimal>) -> Result<Decimal> {
    amounts.into_iter().try_fold(Decimal::ZERO, |acc, a| add(field, acc, a))
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse("currency", &code).map_err(serde::de::Error::custom)
    }
}

/// An amount with its currency. Amounts always carry the currency's decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount: currency.normalize(amount), currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::parse("currency", "CNY").unwrap()
    }

    #[test]
    fn amounts_keep_the_currency_scale() {
        assert_eq!(cny().parse_amount("a", "50").unwrap().to_string(), "50.00");
        assert_eq!(cny().parse_amount("a", "129.9").unwrap().to_string(), "129.90");
    }

    #[test]
    fn too_many_decimal_places_is_rejected_naming_the_field() {
        let err = cny().parse_amount("items[0].unit_price", "1.005").unwrap_err();
        assert!(err.to_string().starts_with("items[0].unit_price: CNY allows at most 2"), "{err}");
        let jpy = Currency::parse("currency", "JPY").unwrap();
        assert!(jpy.parse_amount("a", "1.5").is_err());
    }

    #[test]
    fn malformed_amounts_and_unknown_currencies_are_rejected() {
        for bad in ["", "1e3", "1.", ".5", "abc", "1,00", "+1", " 1", "1 ", "٣", "0x10", "1.0.0", "NaN"] {
            assert!(cny().parse_amount("a", bad).is_err(), "{bad}");
        }
        assert!(Currency::parse("currency", "XXX").is_err());
        assert!(Currency::parse("currency", "cny").is_err());
    }

    #[test]
    fn negative_amounts_and_negative_zero_are_refused() {
        for bad in ["-1.00", "-0.00", "-0"] {
            let err = cny().parse_amount("items[0].unit_price", bad).unwrap_err();
            assert_eq!(err.to_string(), "items[0].unit_price: must not be negative", "{bad}");
        }
    }

    #[test]
    fn amounts_above_the_bound_are_refused_naming_the_field() {
        assert_eq!(cny().parse_amount("a", "1000000000000.00").unwrap(), MAX_AMOUNT);
        for bad in ["1000000000000.01", "99999999999999999999.99", "79228162514264337593543950335", &"9".repeat(400)] {
            let err = cny().parse_amount("items[0].unit_price", bad).unwrap_err();
            assert_eq!(err.to_string(), "items[0].unit_price: must be at most 1000000000000", "{bad}");
        }
        assert_eq!(cny().parse_amount("a", "000000000000000000001.50").unwrap().to_string(), "1.50");
    }

    #[test]
    fn sums_and_products_past_the_bound_are_errors_not_panics() {
        assert!(add("total", MAX_AMOUNT, Decimal::ONE).is_err());
        assert!(mul("total", Decimal::MAX, Decimal::MAX).is_err());
        assert!(sub("total", Decimal::MIN, Decimal::MAX).is_err());
        assert!(sum("total", vec![MAX_AMOUNT; 3]).is_err());
        assert_eq!(sum("total", [Decimal::ONE, Decimal::TWO]).unwrap(), Decimal::from(3));
    }

    #[test]
    fn long_values_are_not_echoed_whole() {
        let err = cny().parse_amount("a", &"x".repeat(10_000)).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn half_up_rounding_goes_away_from_zero() {
        let d = Decimal::from_str("10.005").unwrap();
        assert_eq!(cny().round_half_up(d).to_string(), "10.01");
    }
}
