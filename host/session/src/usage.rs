//! Token usage and cost, accumulated over the session.

/// Prices in millionths of a dollar per million tokens, so that sums stay exact integers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Price {
    pub input_micros_per_mtok: u64,
    pub output_micros_per_mtok: u64,
}

/// One turn's usage as an engine reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: u64,
    pub turns: u32,
}

impl Usage {
    pub fn add(&mut self, turn: TurnUsage, price: Price) {
        self.input_tokens += turn.input_tokens;
        self.output_tokens += turn.output_tokens;
        self.cost_micros += cost_micros(turn, price);
        self.turns += 1;
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// Cost of one turn, rounded up to the next micro-dollar so that small turns are never free.
pub fn cost_micros(turn: TurnUsage, price: Price) -> u64 {
    let scaled = u128::from(turn.input_tokens) * u128::from(price.input_micros_per_mtok)
        + u128::from(turn.output_tokens) * u128::from(price.output_micros_per_mtok);
    u64::try_from(scaled.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost() {
        // $3 / $15 per million tokens.
        let p = Price {
            input_micros_per_mtok: 3_000_000,
            output_micros_per_mtok: 15_000_000,
        };
        assert_eq!(
            cost_micros(
                TurnUsage {
                    input_tokens: 1_000_000,
                    output_tokens: 0
                },
                p
            ),
            3_000_000
        );
        assert_eq!(
            cost_micros(
                TurnUsage {
                    input_tokens: 1,
                    output_tokens: 0
                },
                p
            ),
            3
        );
        assert_eq!(
            cost_micros(
                TurnUsage {
                    input_tokens: 0,
                    output_tokens: 0
                },
                p
            ),
            0
        );
        assert_eq!(
            cost_micros(
                TurnUsage {
                    input_tokens: u64::MAX,
                    output_tokens: u64::MAX
                },
                p
            ),
            u64::MAX
        );
        let mut u = Usage::default();
        u.add(
            TurnUsage {
                input_tokens: 10,
                output_tokens: 20,
            },
            p,
        );
        u.add(
            TurnUsage {
                input_tokens: 10,
                output_tokens: 20,
            },
            p,
        );
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.turns, u.total_tokens()),
            (20, 40, 2, 60)
        );
    }

    #[test]
    fn free_engine_costs_nothing() {
        let mut u = Usage::default();
        u.add(
            TurnUsage {
                input_tokens: 500,
                output_tokens: 500,
            },
            Price::default(),
        );
        assert_eq!(u.cost_micros, 0);
    }
}
