//! The host queries, each behind its capability. The check runs on every call: capabilities
//! are not cached in the guest, so nothing a plugin does can skip it.

use tether_protocol::Capability;

use super::convert;
use super::tether::command::{host as wh, types as wt};
use crate::sandbox::CallerState;

type Answer<T> = wasmtime::Result<Result<T, String>>;

impl CallerState {
    /// `Err` (a trap) if the capability was not declared; `Ok(Err)` if it was not granted.
    fn check(&mut self, capability: Capability) -> wasmtime::Result<Result<(), String>> {
        if !self.declared.contains(capability) {
            self.undeclared = Some(capability);
            return Err(wasmtime::Error::msg(format!(
                "capability `{capability}` not declared"
            )));
        }
        if !self.granted.contains(capability) {
            return Ok(Err(format!(
                "the `{capability}` capability is not granted to /{} on this machine",
                self.name
            )));
        }
        Ok(Ok(()))
    }

    fn answer<T>(&mut self, capability: Capability, f: impl FnOnce(&Self) -> T) -> Answer<T> {
        Ok(self.check(capability)?.map(|()| f(self)))
    }
}

impl wt::Host for CallerState {}

impl wh::Host for CallerState {
    fn session(&mut self) -> Answer<wh::SessionInfo> {
        self.answer(Capability::Session, |s| {
            convert::session_to_wit(s.queries.session())
        })
    }

    fn usage(&mut self) -> Answer<wh::TokenUsage> {
        self.answer(Capability::Usage, |s| {
            convert::usage_to_wit(s.queries.usage())
        })
    }

    fn transcript(&mut self, limit: u32) -> Answer<Vec<wh::Message>> {
        self.answer(Capability::Transcript, |s| {
            s.queries
                .transcript(limit as usize)
                .into_iter()
                .map(convert::message_to_wit)
                .collect()
        })
    }

    fn settings(&mut self) -> Answer<wh::Preferences> {
        self.answer(Capability::Settings, |s| {
            convert::settings_to_wit(s.queries.settings())
        })
    }

    fn commands(&mut self) -> Answer<Vec<wh::CommandInfo>> {
        self.answer(Capability::Commands, |s| {
            s.queries
                .commands()
                .into_iter()
                .map(convert::command_to_wit)
                .collect()
        })
    }

    fn files(&mut self) -> Answer<Vec<wh::ContextFile>> {
        self.answer(Capability::Files, |s| {
            s.queries
                .files()
                .into_iter()
                .map(convert::file_to_wit)
                .collect()
        })
    }
}
