//! What a turn used and what it cost. Prices are integers (millionths of a dollar per million
//! tokens) so that sums over a long session stay exact.

/// Prices in millionths of a dollar per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Price {
    /// Input tokens at the full price.
    pub input_micros_per_mtok: u64,
    /// Output tokens.
    pub output_micros_per_mtok: u64,
    /// Reading from the provider's prompt cache (Anthropic: a tenth of the input price).
    pub cache_read_micros_per_mtok: u64,
    /// Writing to the prompt cache (Anthropic: 1.25 times the input price).
    pub cache_write_micros_per_mtok: u64,
}

impl Price {
    /// A price from dollars per million tokens, with Anthropic's cache ratios.
    pub fn per_mtok(input_usd: f64, output_usd: f64) -> Price {
        let micros = |usd: f64| (usd * 1_000_000.0).round().max(0.0) as u64;
        Price {
            input_micros_per_mtok: micros(input_usd),
            output_micros_per_mtok: micros(output_usd),
            cache_read_micros_per_mtok: micros(input_usd * 0.1),
            cache_write_micros_per_mtok: micros(input_usd * 1.25),
        }
    }
}

/// One turn's usage as the engine reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnUsage {
    /// Input tokens billed at the full price (not counting the cache).
    pub input_tokens: u64,
    /// Tokens the model wrote.
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: u64,
    /// What the provider itself says the turn cost, when it says so (an agent CLI reports its
    /// own bill). It wins over the price table, which may be out of date.
    pub cost_micros: Option<u64>,
}

impl TurnUsage {
    /// Every input token, cached or not: what the context window held.
    pub fn total_input(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_write_tokens)
    }
}

/// Cost of one turn, rounded up to the next micro-dollar so that small turns are never free.
pub fn cost_micros(turn: TurnUsage, price: Price) -> u64 {
    if let Some(reported) = turn.cost_micros {
        return reported;
    }
    let scaled = u128::from(turn.input_tokens) * u128::from(price.input_micros_per_mtok)
        + u128::from(turn.output_tokens) * u128::from(price.output_micros_per_mtok)
        + u128::from(turn.cache_read_tokens) * u128::from(price.cache_read_micros_per_mtok)
        + u128::from(turn.cache_write_tokens) * u128::from(price.cache_write_micros_per_mtok);
    u64::try_from(scaled.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(input: u64, output: u64) -> TurnUsage {
        TurnUsage {
            input_tokens: input,
            output_tokens: output,
            ..Default::default()
        }
    }

    #[test]
    fn cost() {
        let p = Price::per_mtok(3.0, 15.0);
        assert_eq!(p.cache_read_micros_per_mtok, 300_000);
        assert_eq!(p.cache_write_micros_per_mtok, 3_750_000);
        assert_eq!(cost_micros(turn(1_000_000, 0), p), 3_000_000);
        assert_eq!(cost_micros(turn(0, 1_000_000), p), 15_000_000);
        assert_eq!(cost_micros(turn(1, 0), p), 3);
        assert_eq!(cost_micros(turn(0, 0), p), 0);
        assert_eq!(cost_micros(turn(u64::MAX, u64::MAX), p), u64::MAX);
        let cached = TurnUsage {
            cache_read_tokens: 1_000_000,
            cache_write_tokens: 1_000_000,
            ..Default::default()
        };
        assert_eq!(cost_micros(cached, p), 300_000 + 3_750_000);
        assert_eq!(cached.total_input(), 2_000_000);
    }

    #[test]
    fn a_reported_cost_wins() {
        let t = TurnUsage {
            input_tokens: 1_000_000,
            cost_micros: Some(42),
            ..Default::default()
        };
        assert_eq!(cost_micros(t, Price::per_mtok(3.0, 15.0)), 42);
    }

    #[test]
    fn free_engine_costs_nothing() {
        assert_eq!(cost_micros(turn(500, 500), Price::default()), 0);
    }

    #[test]
    fn hostile_prices_do_not_wrap() {
        assert_eq!(Price::per_mtok(-5.0, f64::NAN).input_micros_per_mtok, 0);
        assert_eq!(
            Price::per_mtok(f64::INFINITY, 0.0).input_micros_per_mtok,
            u64::MAX
        );
    }
}
