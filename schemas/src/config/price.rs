//! Prices from YAML (`max_price: 2.5`, dollars per hour): more than $0 and at
//! most [`Usd::MAX`], with a message that says which bound is broken.

use super::convert::{Cx, FromYaml};
use crate::diag::Diagnostic;
use crate::money::Usd;
use crate::yaml::Node;

impl FromYaml for Usd {
    /// A positive dollar amount (`max_price: 1.5`), at most [`Usd::MAX`].
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let value = f64::from_yaml(node, cx)?;
        let shown = node.text().unwrap_or_default().trim().to_string();
        let problem = match Usd::from_dollars_f64(value) {
            Some(usd) if usd > Usd::ZERO => return Some(usd),
            _ if value.is_nan() => format!("price `{shown}` is not a number"),
            _ if value > 0.0 && value < 1.0 => {
                format!(
                    "price `{shown}` rounds to $0 (prices are counted in millionths of a dollar)"
                )
            }
            _ if value > 0.0 => format!(
                "price `{shown}` is above the largest price dstack-rs holds, {} per hour",
                dollars_with_commas(Usd::MAX)
            ),
            _ => format!("price must be greater than 0, found {value}"),
        };
        cx.push(
            Diagnostic::error("dstack::config::invalid_price", problem)
                .at(node.span, "here")
                .help("prices are dollars per hour, e.g. `max_price: 2.5`"),
        );
        None
    }
}

/// Whole dollars with thousands separators: `$9,000,000,000`.
fn dollars_with_commas(usd: Usd) -> String {
    let digits = (usd.micros() / 1_000_000).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("${out}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(
            super::dollars_with_commas(crate::money::Usd::MAX),
            "$9,000,000,000"
        );
        assert_eq!(
            super::dollars_with_commas(crate::money::Usd::from_micros(999_000_000)),
            "$999"
        );
        assert_eq!(
            super::dollars_with_commas(crate::money::Usd::from_micros(1_000_000_000)),
            "$1,000"
        );
    }
}
