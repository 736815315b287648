//! The built-in price table: US dollars per million tokens, as the providers list them. A
//! model is matched by the longest name in the table that starts its own, so dated and
//! suffixed names (`claude-sonnet-4-5-20250929`, `gpt-4o-2024-08-06`) find their family while
//! `gpt-4o-mini` never takes `gpt-4o`'s price. Unknown models (local ones) have no price.

use crate::usage::Price;

/// (name prefix, input, output, cached input). Anthropic's cache prices follow from the input
/// price (a tenth to read, 1.25 times to write), so they are `None` here.
const TABLE: &[(&str, f64, f64, Option<f64>)] = &[
    // Anthropic
    ("claude-opus-4-5", 5.0, 25.0, None),
    ("claude-opus-4-1", 15.0, 75.0, None),
    ("claude-opus-4", 15.0, 75.0, None),
    ("claude-sonnet-4-5", 3.0, 15.0, None),
    ("claude-sonnet-4", 3.0, 15.0, None),
    ("claude-3-7-sonnet", 3.0, 15.0, None),
    ("claude-3-5-sonnet", 3.0, 15.0, None),
    ("claude-haiku-4-5", 1.0, 5.0, None),
    ("claude-3-5-haiku", 0.8, 4.0, None),
    ("claude-3-haiku", 0.25, 1.25, None),
    // OpenAI, with their cached-input prices
    ("gpt-4o", 2.5, 10.0, Some(1.25)),
    ("gpt-4o-mini", 0.15, 0.6, Some(0.075)),
    ("gpt-4.1", 2.0, 8.0, Some(0.5)),
    ("gpt-4.1-mini", 0.4, 1.6, Some(0.1)),
    ("gpt-4.1-nano", 0.1, 0.4, Some(0.025)),
    ("gpt-5", 1.25, 10.0, Some(0.125)),
    ("gpt-5-mini", 0.25, 2.0, Some(0.025)),
    ("gpt-5-nano", 0.05, 0.4, Some(0.005)),
    ("o1", 15.0, 60.0, Some(7.5)),
    ("o1-mini", 1.1, 4.4, Some(0.55)),
    ("o1-pro", 150.0, 600.0, Some(150.0)),
    ("o3", 2.0, 8.0, Some(0.5)),
    ("o3-mini", 1.1, 4.4, Some(0.55)),
    ("o3-pro", 20.0, 80.0, Some(20.0)),
    ("o4-mini", 1.1, 4.4, Some(0.275)),
];

/// The built-in price of `model`, if the table knows its family. A routing prefix such as
/// `openai/` (OpenRouter's naming) is ignored.
pub fn builtin(model: &str) -> Option<Price> {
    let name = model.trim();
    let name = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let (_, input, output, cached) = TABLE
        .iter()
        .filter(|(prefix, ..)| name.starts_with(prefix))
        .max_by_key(|(prefix, ..)| prefix.len())?;
    let mut price = Price::per_mtok(*input, *output);
    if let Some(cached) = cached {
        // OpenAI: cached input has its own price, and writing to the cache costs nothing extra.
        price.cache_read_micros_per_mtok = Price::per_mtok(*cached, 0.0).input_micros_per_mtok;
        price.cache_write_micros_per_mtok = 0;
    }
    Some(price)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(model: &str) -> Option<(u64, u64)> {
        builtin(model).map(|p| (p.input_micros_per_mtok, p.output_micros_per_mtok))
    }

    #[test]
    fn anthropic_models_with_and_without_dates() {
        assert_eq!(io("claude-sonnet-4-5"), Some((3_000_000, 15_000_000)));
        assert_eq!(
            io("claude-sonnet-4-5-20250929"),
            Some((3_000_000, 15_000_000))
        );
        assert_eq!(
            io("claude-opus-4-5-20251101"),
            Some((5_000_000, 25_000_000))
        );
        assert_eq!(
            io("claude-opus-4-1-20250805"),
            Some((15_000_000, 75_000_000))
        );
        assert_eq!(io("claude-opus-4-20250514"), Some((15_000_000, 75_000_000)));
        assert_eq!(
            io("claude-sonnet-4-20250514"),
            Some((3_000_000, 15_000_000))
        );
        assert_eq!(
            io("claude-3-7-sonnet-latest"),
            Some((3_000_000, 15_000_000))
        );
        assert_eq!(
            io("claude-3-5-sonnet-20241022"),
            Some((3_000_000, 15_000_000))
        );
        assert_eq!(io("claude-haiku-4-5"), Some((1_000_000, 5_000_000)));
        assert_eq!(io("claude-3-5-haiku-20241022"), Some((800_000, 4_000_000)));
        assert_eq!(io("claude-3-haiku-20240307"), Some((250_000, 1_250_000)));
        // Anthropic's cache ratios.
        let p = builtin("claude-sonnet-4-5").unwrap();
        assert_eq!(p.cache_read_micros_per_mtok, 300_000);
        assert_eq!(p.cache_write_micros_per_mtok, 3_750_000);
    }

    #[test]
    fn openai_models_take_the_longest_prefix() {
        assert_eq!(io("gpt-4o"), Some((2_500_000, 10_000_000)));
        assert_eq!(io("gpt-4o-2024-08-06"), Some((2_500_000, 10_000_000)));
        assert_eq!(io("gpt-4o-mini"), Some((150_000, 600_000)));
        assert_eq!(io("gpt-4o-mini-2024-07-18"), Some((150_000, 600_000)));
        assert_eq!(io("gpt-4.1"), Some((2_000_000, 8_000_000)));
        assert_eq!(io("gpt-4.1-mini"), Some((400_000, 1_600_000)));
        assert_eq!(io("gpt-4.1-nano-2025-04-14"), Some((100_000, 400_000)));
        assert_eq!(io("gpt-5"), Some((1_250_000, 10_000_000)));
        assert_eq!(io("gpt-5-mini"), Some((250_000, 2_000_000)));
        assert_eq!(io("gpt-5-nano"), Some((50_000, 400_000)));
        assert_eq!(io("o3"), Some((2_000_000, 8_000_000)));
        assert_eq!(io("o3-mini"), Some((1_100_000, 4_400_000)));
        assert_eq!(io("o4-mini"), Some((1_100_000, 4_400_000)));
        assert_eq!(io("openai/gpt-4o-mini"), Some((150_000, 600_000)));
        assert_eq!(io(" GPT-4o "), Some((2_500_000, 10_000_000)));
        let p = builtin("gpt-4o-mini").unwrap();
        assert_eq!(p.cache_read_micros_per_mtok, 75_000);
        assert_eq!(p.cache_write_micros_per_mtok, 0);
        assert_eq!(
            builtin("gpt-5").unwrap().cache_read_micros_per_mtok,
            125_000
        );
    }

    #[test]
    fn pro_models_do_not_take_their_familys_price() {
        assert_eq!(io("o3-pro-2025-06-10"), Some((20_000_000, 80_000_000)));
        assert_eq!(io("o3-2025-04-16"), Some((2_000_000, 8_000_000)));
        assert_eq!(io("o1-pro"), Some((150_000_000, 600_000_000)));
        assert_eq!(builtin("o3-pro").unwrap().cache_write_micros_per_mtok, 0);
    }

    #[test]
    fn unknown_models_have_no_price() {
        for model in [
            "llama3.2",
            "llama3.2:latest",
            "qwen2.5-coder:7b",
            "mistral",
            "",
            "gpt-3.5-turbo",
            "claude-2.1",
        ] {
            assert_eq!(builtin(model), None, "{model}");
        }
    }

    #[test]
    fn every_entry_is_reachable() {
        // No prefix is shadowed by a duplicate, and each finds itself.
        for (prefix, input, ..) in TABLE {
            let p = builtin(prefix).unwrap();
            assert_eq!(
                p.input_micros_per_mtok,
                (input * 1e6).round() as u64,
                "{prefix}"
            );
            assert_eq!(
                TABLE.iter().filter(|(p, ..)| p == prefix).count(),
                1,
                "{prefix}"
            );
        }
    }
}
