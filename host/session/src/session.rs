//! The session: input in, output out, state in one place.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use tether_plugins::policy::Mode;
use tether_plugins::{Call, Effect, Limits, Plugin, Runtime, effect::Editable};
use tether_protocol::{
    Capabilities, Capability, Origin, gate::Context, gate::Decision, gate::gate,
};
use tokio_util::sync::CancellationToken;

use crate::approvals::{Approvals, Resolution};
use crate::dirs::Dirs;
use crate::dispatch::{check_effects, parse_slash};
use crate::mentions::{self, ContextFile};
use crate::output::{Format, Output, Sink};
use crate::preferences::{self, COLORS, Preferences, Stored, THEMES};
use crate::registry::Registry;
use crate::snapshot::{self, Snapshot};
use crate::transcript::{Entry, Transcript, TurnEnding};
use crate::usage::{AddTurn, TurnUsage, Usage};
use crate::user_plugins::UserPlugins;
use tether_engines::sentence::end_sentence;
use tether_engines::{Engine, EngineEvent, TurnRequest};

/// Said after the reason a turn failed before any reply: the message is not in the conversation.
pub const NOT_SENT: &str = "Not sent: the conversation is as it was before this message.";

/// Where a published session can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteInfo {
    /// The relay's session id (`session_<uuid>`, `session_local_<uuid>`, …).
    pub session_id: String,
    /// The link a phone opens, shown by `/session` as a QR code.
    pub url: String,
}

/// What a session is started with, fixed for its lifetime.
pub struct SessionConfig {
    /// Where tether keeps its files.
    pub dirs: Dirs,
    /// The terminal's working directory, which commands and `@path` mentions resolve against.
    pub cwd: PathBuf,
    /// tether's version, as commands report it.
    pub version: String,
    /// Memory, time and output limits for every command run.
    pub limits: Limits,
    /// `Some` when the session was started with `--remote`.
    pub remote: Option<RemoteInfo>,
    /// Extra links `/mobile` shows.
    pub app_links: Vec<tether_plugins::AppLink>,
}

/// What the caller should do after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading input.
    Continue,
    /// The user asked to end the session (`/exit`): stop.
    Exit,
}

/// One conversation: the state a terminal process owns, changed only through its input.
pub struct Session {
    config: SessionConfig,
    runtime: Arc<Runtime>,
    registry: Registry,
    user_plugins: UserPlugins,
    engine: Arc<dyn Engine>,
    transcript: Transcript,
    usage: Usage,
    prefs: Preferences,
    files: Vec<ContextFile>,
    approvals: Arc<Approvals>,
    resolved: tokio::sync::mpsc::UnboundedReceiver<(String, Resolution)>,
}

impl Session {
    /// A session with an empty conversation and no files in context.
    pub fn new(
        config: SessionConfig,
        runtime: Arc<Runtime>,
        registry: Registry,
        engine: Arc<dyn Engine>,
        prefs: Preferences,
    ) -> Session {
        let user_plugins = UserPlugins::new(config.dirs.user_plugins());
        let (approvals, resolved) = Approvals::new();
        Session {
            approvals: Arc::new(approvals),
            resolved,
            config,
            runtime,
            registry,
            user_plugins,
            engine,
            transcript: Transcript::default(),
            usage: Usage::default(),
            prefs,
            files: Vec::new(),
        }
    }

    /// The loaded commands.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    /// The conversation so far.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }
    /// Tokens and cost so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }
    /// The current preferences.
    pub fn preferences(&self) -> &Preferences {
        &self.prefs
    }
    /// The engine that answers turns.
    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }
    /// Where surfaces answer the agent's permission requests. Shared, because answers arrive
    /// while a turn holds the session (a key in the terminal, an event from a phone).
    pub fn approvals(&self) -> Arc<Approvals> {
        Arc::clone(&self.approvals)
    }
    /// The files in the conversation's context, added by `@path` mentions.
    pub fn files(&self) -> &[ContextFile] {
        &self.files
    }
    /// Where the published session is reached; `None` unless started with `--remote`.
    pub fn remote(&self) -> Option<&RemoteInfo> {
        self.config.remote.as_ref()
    }
    /// Where the published session is reached now: the embedded relay's link carries a
    /// one-time secret, which is replaced once used.
    pub fn set_remote_url(&mut self, url: String) {
        if let Some(remote) = &mut self.config.remote {
            remote.url = url;
        }
    }
    /// The terminal's working directory.
    pub fn cwd(&self) -> &std::path::Path {
        &self.config.cwd
    }

    fn context(&self, origin: Origin) -> Context {
        Context::new(origin, self.config.remote.is_some())
    }

    /// Handles one input from a surface. Never fails: problems become [`Output::Error`].
    pub async fn submit(
        &mut self,
        input: &str,
        origin: Origin,
        sink: &mut dyn Sink,
        cancel: &CancellationToken,
    ) -> Flow {
        let input = input.trim();
        if input.is_empty() {
            return Flow::Continue;
        }
        if let Some((name, args)) = parse_slash(input) {
            if let Some(plugin) = self.registry.find(name).cloned() {
                return self
                    .run_command(plugin, name, args, origin, sink, cancel)
                    .await;
            }
            // Kept from loading by the administrator: say so, rather than send it to the model.
            if let Some(refusal) = self.registry.disabled(name) {
                sink.emit(Output::Command {
                    command: name.to_string(),
                    text: format!(
                        "/{name} is disabled by the administrator: {}.",
                        refusal.reason()
                    ),
                    format: Format::Text,
                });
                return Flow::Continue;
            }
        }
        // Not a command we know: ordinary text for the model, slash and all.
        self.turn(input, origin, sink, cancel).await;
        Flow::Continue
    }

    async fn run_command(
        &mut self,
        plugin: Plugin,
        invoked_as: &str,
        args: &str,
        origin: Origin,
        sink: &mut dyn Sink,
        cancel: &CancellationToken,
    ) -> Flow {
        let context = self.context(origin);
        let manifest = &plugin.manifest;
        if let Decision::Refuse(refusal) = gate(manifest.kind, manifest.safety, context) {
            sink.emit(Output::Command {
                command: manifest.name.clone(),
                text: refusal.message(invoked_as),
                format: Format::Text,
            });
            return Flow::Continue;
        }
        let name = manifest.name.clone();
        let granted = self.registry.policy().capabilities(&name);
        let limits = self.registry.policy().limits(&name, self.config.limits);
        let queries = Arc::new(self.snapshot(manifest.declared().intersect(granted), context));
        let result = self
            .runtime
            .run_async(Call {
                plugin,
                args: args.to_string(),
                context,
                granted,
                limits,
                queries,
            })
            .await;
        let effects = match result {
            Ok(effects) => effects,
            Err(e) => {
                sink.emit(Output::Error(e.to_string()));
                return Flow::Continue;
            }
        };
        if let Err(e) = check_effects(&name, &effects, context) {
            sink.emit(Output::Error(e));
            return Flow::Continue;
        }
        let mut flow = Flow::Continue;
        for effect in effects {
            if self.apply(&name, effect, origin, sink, cancel).await == Flow::Exit {
                flow = Flow::Exit;
            }
        }
        flow
    }

    fn snapshot(&self, wanted: Capabilities, context: Context) -> Snapshot {
        snapshot::capture(wanted, |capability, s| match capability {
            Capability::Session => {
                s.session = tether_plugins::SessionInfo {
                    remote_mode: self.config.remote.is_some(),
                    session_id: self.config.remote.as_ref().map(|r| r.session_id.clone()),
                    url: self.config.remote.as_ref().map(|r| r.url.clone()),
                    engine: self.engine.name().to_string(),
                    model: self.engine.model(),
                    cwd: self.config.cwd.display().to_string(),
                    version: self.config.version.clone(),
                }
            }
            Capability::Usage => s.usage = self.usage,
            Capability::Transcript => {
                use tether_plugins::{Message, Role};
                s.transcript = self
                    .transcript
                    .entries()
                    .iter()
                    .map(|e| {
                        let role = match e {
                            Entry::User { .. } => Role::User,
                            Entry::Assistant { .. } => Role::Assistant,
                            Entry::Note { .. } => Role::Note,
                            Entry::Command { .. } | Entry::Summary { .. } => Role::Command,
                        };
                        Message {
                            role,
                            text: e.text().to_string(),
                        }
                    })
                    .collect()
            }
            Capability::Settings => {
                s.settings = tether_plugins::Settings {
                    preferences: self.prefs.clone(),
                    themes: THEMES.iter().map(|t| t.to_string()).collect(),
                    colors: COLORS.iter().map(|c| c.to_string()).collect(),
                    app_links: self.config.app_links.clone(),
                }
            }
            Capability::Commands => s.commands = self.registry.available(context),
            Capability::Files => s.files = self.files.clone(),
        })
    }

    async fn apply(
        &mut self,
        command: &str,
        effect: Effect,
        origin: Origin,
        sink: &mut dyn Sink,
        cancel: &CancellationToken,
    ) -> Flow {
        match effect {
            Effect::Print(text) => self.command_output(command, text, Format::Text, sink),
            Effect::Markdown(text) => self.command_output(command, text, Format::Markdown, sink),
            Effect::Prompt(text) => self.turn(&text, origin, sink, cancel).await,
            Effect::SetTheme(name) => match preferences::check_theme(&name) {
                Ok(()) => self.set_prefs(sink, |p| p.theme = name),
                Err(e) => sink.emit(Output::Error(format!("/{command}: {e}"))),
            },
            Effect::SetColor(name) => match preferences::check_color(&name) {
                Ok(()) => self.set_prefs(sink, |p| p.color = name),
                Err(e) => sink.emit(Output::Error(format!("/{command}: {e}"))),
            },
            Effect::SetVim(on) => self.set_prefs(sink, |p| p.vim = on),
            Effect::SetPlanMode(on) => self.set_prefs(sink, |p| p.plan_mode = on),
            Effect::SetStatusline(on) => self.set_prefs(sink, |p| p.statusline = on),
            Effect::Clear => {
                self.transcript.clear();
                self.files.clear();
                self.engine.reset();
                sink.emit(Output::Cleared);
                sink.emit(Output::Info("Conversation cleared.".into()));
            }
            Effect::Exit => return Flow::Exit,
            Effect::CopyToClipboard(text) => sink.emit(Output::Clipboard(text)),
            Effect::AddNote(text) => {
                self.transcript.push(Entry::Note { text: text.clone() });
                sink.emit(Output::Note(text));
            }
            Effect::Compact(focus) => self.compact(&focus, sink).await,
            Effect::Summarize(focus) => self.summarize(command, &focus, sink).await,
            Effect::OpenUrl(url) => sink.emit(Output::OpenUrl(url)),
            Effect::OpenEditor(Editable::Memory) => sink.emit(Output::OpenEditor(self.config.dirs.memory())),
            Effect::InstallPlugin(path) => self.install(command, &path, sink),
            Effect::RemovePlugin(name) => self.remove(command, &name, sink),
            Effect::NewSessionKey => match &self.config.remote {
                Some(_) => sink.emit(Output::NewSessionKey),
                None => sink.emit(Output::Error(format!(
                    "/{command}: this session is not published, so it has no key to replace."
                ))),
            },
            Effect::HandOff => match &self.config.remote {
                Some(remote) => sink.emit(Output::OpenUrl(remote.url.clone())),
                None => sink.emit(Output::Error(format!(
                    "/{command}: this session is not published, so there is nothing to open in a browser. \
                     Start tether with --remote to continue a session from a browser or phone."
                ))),
            },
        }
        Flow::Continue
    }

    fn command_output(&mut self, command: &str, text: String, format: Format, sink: &mut dyn Sink) {
        self.transcript.push(Entry::Command {
            command: command.to_string(),
            text: text.clone(),
        });
        sink.emit(Output::Command {
            command: command.to_string(),
            text,
            format,
        });
    }

    fn set_prefs(&mut self, sink: &mut dyn Sink, change: impl FnOnce(&mut Preferences)) {
        change(&mut self.prefs);
        if let Err(e) = self.prefs.save(&self.config.dirs.preferences()) {
            sink.emit(Output::Error(format!(
                "the change applies to this session but could not be saved to {}: {e}",
                self.config.dirs.preferences().display()
            )));
        }
        sink.emit(Output::PreferencesChanged(self.prefs.clone()));
    }

    fn install(&mut self, command: &str, path: &str, sink: &mut dyn Sink) {
        let file = self.config.cwd.join(path);
        match self
            .user_plugins
            .install(&self.runtime, &self.registry, &file)
        {
            Ok(installed) => {
                let name = installed.plugin.manifest.name.clone();
                self.registry.remove(&name);
                let verb = if installed.replaced.is_some() {
                    "Updated"
                } else {
                    "Installed"
                };
                let sha = installed.plugin.sha256[..12].to_string();
                match self.registry.insert(installed.plugin) {
                    Ok(()) => {
                        sink.emit(Output::Info(format!("{verb} /{name} ({sha}).")));
                        sink.emit(Output::CommandsChanged);
                    }
                    Err(e) => sink.emit(Output::Error(format!("/{command}: {e}"))),
                }
            }
            Err(e) => sink.emit(Output::Error(format!("/{command}: {e}"))),
        }
    }

    fn remove(&mut self, command: &str, name: &str, sink: &mut dyn Sink) {
        match self.user_plugins.remove(&self.registry, name) {
            Ok(removed) => {
                self.registry.remove(&removed);
                sink.emit(Output::Info(format!("Removed /{removed}.")));
                sink.emit(Output::CommandsChanged);
            }
            Err(e) => sink.emit(Output::Error(format!("/{command}: {e}"))),
        }
    }

    async fn summarize(&mut self, command: &str, focus: &str, sink: &mut dyn Sink) {
        let messages = self.transcript.model_messages();
        if messages.is_empty() {
            sink.emit(Output::Info("Nothing to summarise yet.".into()));
            return;
        }
        match self.engine.summarize(&messages, focus).await {
            Ok((summary, usage)) => {
                self.account(usage);
                self.command_output(command, summary, Format::Markdown, sink);
            }
            Err(e) => sink.emit(Output::Error(format!(
                "/{command}: the engine could not summarise: {e}"
            ))),
        }
    }

    async fn compact(&mut self, focus: &str, sink: &mut dyn Sink) {
        let messages = self.transcript.model_messages();
        if messages.is_empty() {
            sink.emit(Output::Info("Nothing to compact yet.".into()));
            return;
        }
        match self.engine.summarize(&messages, focus).await {
            Ok((summary, usage)) => {
                self.account(usage);
                let replaced = self.transcript.compact(summary);
                // An agent that keeps its own context restarts from the summary too.
                self.engine.reset();
                sink.emit(Output::Info(format!(
                    "Compacted {replaced} messages into a summary; the conversation continues from it."
                )));
            }
            // The transcript is untouched: nothing is lost when the engine fails.
            Err(e) => sink.emit(Output::Error(format!(
                "compact failed, the conversation is unchanged: {e}"
            ))),
        }
    }

    fn account(&mut self, usage: TurnUsage) {
        self.usage.add(usage, self.engine.price());
    }

    /// One model turn: the user's text in, the streamed reply out. Cancelling keeps what was
    /// already received, marked as interrupted.
    async fn turn(
        &mut self,
        text: &str,
        origin: Origin,
        sink: &mut dyn Sink,
        cancel: &CancellationToken,
    ) {
        let mut mentioned = mentions::mentions_from(text, origin);
        let mode = match self.config.remote {
            Some(_) => Mode::Remote,
            None => Mode::Local,
        };
        if !mentioned.is_empty()
            && let Err(why) = self.registry.policy().mentions_read_files(mode)
        {
            // One line for the whole message; the mentions stay in the text the model sees.
            let list = mentioned
                .iter()
                .map(|p| format!("@{p}"))
                .collect::<Vec<_>>()
                .join(", ");
            sink.emit(Output::Error(format!("{list} not read: {why}")));
            mentioned.clear();
        }
        for path in mentioned {
            match mentions::read(&self.config.cwd, &path) {
                Ok(file) => {
                    self.files.retain(|f| f.path != file.path);
                    self.files.push(file);
                }
                Err(e) => sink.emit(Output::Error(e)),
            }
        }
        let start = self.transcript.len();
        self.transcript.push(Entry::User {
            text: text.to_string(),
            origin,
        });
        sink.emit(Output::User {
            text: text.to_string(),
            origin,
        });

        let request = TurnRequest {
            messages: self.transcript.model_messages(),
            plan_mode: self.prefs.plan_mode,
            system: std::fs::read_to_string(self.config.dirs.memory()).ok(),
        };
        let message_id = uuid::Uuid::new_v4().to_string();
        sink.emit(Output::AssistantStart {
            message_id: message_id.clone(),
        });
        let mut stream = self.engine.reply(request);
        let mut reply = String::new();
        let mut usage = TurnUsage::default();
        let mut interrupted = false;
        let mut failure = None;
        loop {
            let event = tokio::select! {
                biased;
                _ = cancel.cancelled() => { interrupted = true; break; }
                Some((request_id, resolution)) = self.resolved.recv() => {
                    sink.emit(Output::PermissionResolved { request_id, resolution });
                    continue;
                }
                event = stream.next() => event,
            };
            match event {
                None => break,
                Some(Ok(EngineEvent::Delta(delta))) => {
                    reply.push_str(&delta);
                    sink.emit(Output::AssistantDelta {
                        message_id: message_id.clone(),
                        text: delta,
                    });
                }
                Some(Ok(EngineEvent::Usage(u))) => usage = u,
                Some(Ok(EngineEvent::Retrying {
                    attempt,
                    of,
                    after,
                    reason,
                })) => sink.emit(Output::Warning(format!(
                    "{}: {reason}; retrying in {:.1} s (attempt {attempt} of {of})",
                    self.engine.name(),
                    after.as_secs_f64()
                ))),
                Some(Ok(EngineEvent::Permission(request))) => {
                    let (question, responder) = request.into_parts();
                    self.approvals.open(question.clone(), responder);
                    sink.emit(Output::PermissionRequest(question));
                }
                Some(Ok(EngineEvent::PermissionWithdrawn { request_id })) => {
                    self.approvals.withdraw(&request_id);
                }
                Some(Err(e)) => {
                    failure = Some(format!("{}: {e}", self.engine.name()));
                    break;
                }
            }
        }
        drop(stream);
        // Nothing can use an answer now: deny what still waits, and tell every surface.
        self.approvals.cancel_all();
        while let Ok((request_id, resolution)) = self.resolved.try_recv() {
            sink.emit(Output::PermissionResolved {
                request_id,
                resolution,
            });
        }
        let ending = match (&failure, interrupted) {
            (Some(_), _) => TurnEnding::Failed,
            (None, true) => TurnEnding::Interrupted,
            (None, false) => TurnEnding::Complete,
        };
        self.transcript.finish_turn(start, reply.clone(), ending);
        self.account(usage);
        match failure {
            Some(error) if reply.is_empty() => {
                // An agent that keeps its own context may hold the message as well: it starts
                // afresh from the transcript, which no longer does.
                self.engine.reset();
                sink.emit(Output::TurnFailed {
                    text: text.to_string(),
                    origin,
                    error: format!("{} {NOT_SENT}", end_sentence(&error)),
                });
            }
            failure => {
                // Text arrived: it stays, as the (incomplete) reply, and the error follows it.
                sink.emit(Output::AssistantEnd {
                    message_id,
                    text: reply,
                    usage,
                    interrupted,
                });
                if let Some(error) = failure {
                    sink.emit(Output::Error(error));
                }
            }
        }
    }
}
