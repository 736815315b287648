//! From the command line, config.toml and the environment to a running engine.

pub mod choose;
pub mod config;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use tether_engines::anthropic::{Anthropic, AnthropicConfig};
use tether_engines::echo::Echo;
use tether_engines::exec::{Exec, ExecConfig};
use tether_engines::http::RetryPolicy;
use tether_engines::openai::{OpenAi, OpenAiConfig};
use tether_engines::{ApiKey, Engine, prices};
use tether_session::Dirs;
use tether_session::usage::Price;

use crate::args::{EngineArgs, EngineChoice};
use choose::{ANTHROPIC_KEY, FALLBACK_HINT, OPENAI_KEY, Why, choose};
use config::Config;

/// The engine, and a hint for the banner when it is the fallback.
pub struct Chosen {
    pub engine: Arc<dyn Engine>,
    pub hint: Option<&'static str>,
    /// `[notify]` of the same file, for `tether --remote`.
    pub notify: config::NotifySection,
}

/// The config file's path.
pub fn config_path(dirs: &Dirs) -> std::path::PathBuf {
    dirs.config.join("config.toml")
}

pub fn build(args: &EngineArgs, dirs: &Dirs) -> Result<Chosen> {
    let config = Config::load(&config_path(dirs)).map_err(|e| anyhow!(e))?;
    let env = |name: &str| std::env::var(name).ok();
    let (choice, why) = choose(args.engine, &config, &env);
    tracing::info!(?choice, ?why, "engine chosen");
    let engine: Arc<dyn Engine> = match choice {
        EngineChoice::Echo => Arc::new(echo()),
        EngineChoice::Anthropic => Arc::new(anthropic(args, &config)?),
        EngineChoice::Openai => Arc::new(openai(args, &config)?),
        EngineChoice::Exec => Arc::new(exec(args, &config)?),
    };
    Ok(Chosen {
        engine,
        hint: (why == Why::Fallback).then_some(FALLBACK_HINT),
        notify: config.notify,
    })
}

fn echo() -> Echo {
    // Slow enough to see the reply stream; tests set it to make replies interruptible.
    let ms = std::env::var("TETHER_ECHO_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    Echo::new(Duration::from_millis(ms))
}

/// The price for `model`: the config file's, else the built-in table's, else free (a local
/// model, or one too new for the table: `/cost` then counts tokens only).
fn price(config: &Config, model: &str) -> Price {
    config
        .prices
        .get(model)
        .map(|p| p.price())
        .or_else(|| prices::builtin(model))
        .unwrap_or_default()
}

/// The key from `var`, if set and not blank.
fn key(var: &str) -> Option<ApiKey> {
    std::env::var(var).ok().and_then(ApiKey::new)
}

fn anthropic(args: &EngineArgs, config: &Config) -> Result<Anthropic> {
    let section = &config.anthropic;
    let var = section.key_var(ANTHROPIC_KEY);
    let api_key = key(var).ok_or_else(|| {
        anyhow!("the anthropic engine needs an API key: set {var} (from console.anthropic.com)")
    })?;
    let model = section.model(args.model.as_deref(), AnthropicConfig::DEFAULT_MODEL);
    let engine = Anthropic::new(AnthropicConfig {
        api_key,
        price: price(config, &model),
        model,
        base_url: base_url(
            args,
            section.base_url.as_deref(),
            AnthropicConfig::DEFAULT_BASE_URL,
        )?,
        max_tokens: section
            .max_tokens
            .unwrap_or(AnthropicConfig::DEFAULT_MAX_TOKENS),
        retry: RetryPolicy::default(),
    })
    .map_err(|e| anyhow!("{e}"))?;
    Ok(engine)
}

fn openai(args: &EngineArgs, config: &Config) -> Result<OpenAi> {
    let section = config.openai_or_default();
    let var = section.key_var(OPENAI_KEY);
    let model = section.model(args.model.as_deref(), OpenAiConfig::DEFAULT_MODEL);
    OpenAi::new(OpenAiConfig {
        api_key: key(var),
        price: price(config, &model),
        model,
        base_url: base_url(
            args,
            section.base_url.as_deref(),
            OpenAiConfig::DEFAULT_BASE_URL,
        )?,
        max_tokens: section.max_tokens,
        retry: RetryPolicy::default(),
    })
    .map_err(|e| anyhow!("{e}"))
}

fn exec(args: &EngineArgs, config: &Config) -> Result<Exec> {
    let command = match (&args.exec_command, &config.exec) {
        (Some(line), _) => shell_words::split(line)
            .with_context(|| format!("--exec-command {line:?} is not a valid command line"))?,
        (None, Some(section)) => section.command.clone(),
        (None, None) => {
            return Err(anyhow!(
                "the exec engine needs an agent command: pass --exec-command \"claude -p \
                 --input-format stream-json --output-format stream-json --verbose \
                 --include-partial-messages --permission-prompt-tool stdio\", or set \
                 [exec] command in the config file"
            ));
        }
    };
    if command.is_empty() {
        return Err(anyhow!(
            "--exec-command is empty: name the agent program to run"
        ));
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    Exec::new(ExecConfig::new(command, cwd)).map_err(|e| anyhow!("{e}"))
}

/// `--base-url`, else the config file's, else the provider's own.
fn base_url(args: &EngineArgs, configured: Option<&str>, default: &str) -> Result<String> {
    let url = args
        .base_url
        .as_deref()
        .or(configured)
        .unwrap_or(default)
        .trim_end_matches('/')
        .to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(anyhow!(
            "--base-url must start with http:// or https:// (got {url:?})"
        ));
    }
    Ok(url)
}
