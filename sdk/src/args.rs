//! Parsing the arguments commands commonly take, with the usage errors users expect.

/// The argument of an on/off command: `on`, `off`, or nothing to flip `current` (read only when
/// needed, since reading it may be a host query).
pub fn switch(
    command: &str,
    args: &str,
    current: impl FnOnce() -> Result<bool, String>,
) -> Result<bool, String> {
    match args.to_ascii_lowercase().as_str() {
        "" => Ok(!current()?),
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!(
            "Usage: /{command} [on|off]: without an argument, it switches."
        )),
    }
}

/// One of `options` by name, ignoring ASCII case (phone keyboards capitalise); `None` when no
/// name was given. `noun` names what is chosen, for the error.
pub fn pick<'a>(
    command: &str,
    noun: &str,
    args: &str,
    options: &'a [String],
) -> Result<Option<&'a str>, String> {
    if args.is_empty() {
        return Ok(None);
    }
    match options.iter().find(|o| o.eq_ignore_ascii_case(args)) {
        Some(option) => Ok(Some(option)),
        None => Err(format!(
            "There is no {noun} {args:?}. Type /{command} <name> with one of: {}.",
            options.join(", ")
        )),
    }
}

/// A markdown list of `options` under `heading`, the current one marked.
pub fn options(heading: &str, options: &[String], current: &str) -> String {
    let items: Vec<String> = options
        .iter()
        .map(|o| {
            let name = crate::markdown::escape(o);
            if o == current {
                format!("**{name}** (current)")
            } else {
                name
            }
        })
        .collect();
    format!("{heading}:\n\n{}", crate::markdown::bullets(&items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches() {
        assert_eq!(switch("vim", "", || Ok(true)), Ok(false));
        assert_eq!(switch("vim", "ON", || unreachable!()), Ok(true));
        assert_eq!(switch("vim", "off", || unreachable!()), Ok(false));
        assert!(
            switch("vim", "maybe", || unreachable!())
                .unwrap_err()
                .contains("/vim [on|off]")
        );
        assert_eq!(
            switch("vim", "", || Err("denied".into())),
            Err("denied".into())
        );
    }

    #[test]
    fn picks() {
        let opts = vec!["dark".to_string(), "light".to_string()];
        assert_eq!(pick("theme", "theme", "", &opts), Ok(None));
        assert_eq!(pick("theme", "theme", "Light", &opts), Ok(Some("light")));
        let err = pick("theme", "theme", "neon", &opts).unwrap_err();
        assert_eq!(
            err,
            "There is no theme \"neon\". Type /theme <name> with one of: dark, light."
        );
    }

    #[test]
    fn lists() {
        let opts = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            options("Themes", &opts, "b"),
            "Themes:\n\n- a\n- **b** (current)\n"
        );
    }
}
