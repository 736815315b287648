//! Token usage and cost, accumulated over the session.
//!
//! The total is the plugin runtime's [`Usage`], because `/usage` and `/cost` read it; adding a
//! turn needs the engine's price, which only the session knows.

pub use tether_engines::usage::{Price, TurnUsage, cost_micros};
pub use tether_plugins::Usage;

/// Accumulating turns into a [`Usage`].
pub trait AddTurn {
    /// Counts one turn, priced at `price`.
    fn add(&mut self, turn: TurnUsage, price: Price);
}

impl AddTurn for Usage {
    fn add(&mut self, turn: TurnUsage, price: Price) {
        self.input_tokens = self.input_tokens.saturating_add(turn.total_input());
        self.output_tokens = self.output_tokens.saturating_add(turn.output_tokens);
        self.cost_micros = self.cost_micros.saturating_add(cost_micros(turn, price));
        self.turns += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_turns_with_the_cache() {
        let p = Price::per_mtok(3.0, 15.0);
        let mut u = Usage::default();
        let t = TurnUsage {
            input_tokens: 10,
            output_tokens: 20,
            cache_read_tokens: 5,
            ..Default::default()
        };
        u.add(t, p);
        u.add(t, p);
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.turns, u.total_tokens()),
            (30, 40, 2, 70)
        );
        assert_eq!(u.cost_micros, 2 * cost_micros(t, p));
    }

    #[test]
    fn free_engine_costs_nothing() {
        let mut u = Usage::default();
        let t = TurnUsage {
            input_tokens: 500,
            output_tokens: 500,
            ..Default::default()
        };
        u.add(t, Price::default());
        assert_eq!(u.cost_micros, 0);
    }
}
