//! `/copy [N]`: put the latest (or N-th latest) reply on the clipboard, over SSH too.

use tether_sdk::prelude::*;

struct CopyReply;

const USAGE: &str =
    "Usage: /copy [N]: copies the N-th most recent reply (1, the default, is the latest).";

impl Command for CopyReply {
    fn manifest() -> Manifest {
        Manifest::local("copy", "Copy the last reply to the clipboard")
            .argument_hint("[N]")
            .remote_safe()
            .capability(Capability::Transcript)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let n = match call.args.as_str() {
            "" => 1,
            arg => match arg.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(USAGE.into()),
            },
        };
        let mut replies: Vec<String> = host::transcript(u32::MAX)?
            .into_iter()
            .filter(|m| m.role == host::Role::Assistant)
            .map(|m| m.text)
            .collect();
        let count = replies.len();
        if count == 0 {
            return Err("Nothing to copy yet: there is no reply in this conversation.".into());
        }
        if n > count {
            return Err(match count {
                1 => "There is only one reply in this conversation: type /copy to copy it.".into(),
                _ => format!(
                    "There are only {count} replies in this conversation: type /copy 1 to /copy {count}."
                ),
            });
        }
        let text = replies.swap_remove(count - n);
        let chars = text.chars().count();
        Ok(vec![
            Effect::copy_to_clipboard(text),
            Effect::print(format!("Copied {chars} characters to the clipboard.")),
        ])
    }
}

tether_sdk::export!(CopyReply);
