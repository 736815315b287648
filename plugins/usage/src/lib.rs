//! `/usage`: a table of the tokens used so far, per direction and per turn, and their cost.

use tether_sdk::prelude::*;

struct Usage;

impl Command for Usage {
    fn manifest() -> Manifest {
        Manifest::local("usage", "Show token usage")
            .remote_safe()
            .capability(Capability::Usage)
            .capability(Capability::Session)
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        let usage = host::usage()?;
        let session = host::session()?;
        let total = usage.total_tokens();
        let average = match usage.turns {
            0 => "none yet".to_string(),
            turns => grouped(total / u64::from(turns)),
        };
        let rows = [
            row("Input tokens", grouped(usage.input_tokens)),
            row("Output tokens", grouped(usage.output_tokens)),
            row("Total tokens", grouped(total)),
            row("Turns", usage.turns.to_string()),
            row("Average tokens per turn", average),
            row("Cost", host::format_cost(usage.cost_micros)),
        ];
        let title = format!(
            "**Token usage** with {}/{}",
            markdown::escape(&session.engine),
            markdown::escape(&session.model)
        );
        Ok(vec![Effect::markdown(format!(
            "{title}\n\n{}",
            markdown::table(&["Usage", "This session"], &rows)
        ))])
    }
}

fn row(label: &str, value: String) -> [String; 2] {
    [label.to_string(), value]
}

/// Exact counts, with thousands separators so that they read at a glance: `12,345`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

tether_sdk::export!(Usage);
