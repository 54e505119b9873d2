//! Money: a decimal amount in an ISO 4217 currency. Never a float; every rounding names
//! its strategy where it happens.
#![deny(clippy::float_arithmetic)]

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

    /// Parses an amount written as a decimal string with at most the currency's decimal
    /// places. `field` names the input for the error.
    pub fn parse_amount(self, field: &str, text: &str) -> Result<Decimal> {
        let well_formed = {
            let digits = text.strip_prefix('-').unwrap_or(text);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
            !int.is_empty() && !frac.is_empty() && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        };
        let amount = Decimal::from_str(text)
            .ok()
            .filter(|_| well_formed)
            .ok_or_else(|| Error::validation(field, format!("{text:?} is not a decimal amount such as \"129.90\"")))?;
        if amount.scale() > self.1 {
            return Err(Error::validation(
                field,
                format!("{} allows at most {} decimal places, got {text:?}", self.0, self.1),
            ));
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
        for bad in ["", "1e3", "1.", ".5", "abc", "1,00", "+1"] {
            assert!(cny().parse_amount("a", bad).is_err(), "{bad}");
        }
        assert!(Currency::parse("currency", "XXX").is_err());
        assert!(Currency::parse("currency", "cny").is_err());
    }

    #[test]
    fn half_up_rounding_goes_away_from_zero() {
        let d = Decimal::from_str("10.005").unwrap();
        assert_eq!(cny().round_half_up(d).to_string(), "10.01");
    }
}
