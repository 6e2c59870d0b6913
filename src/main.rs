//! uid-gate binary: parse the command line, read the configuration, start logging, bind, and
//! serve until SIGTERM/SIGINT. The work is in the library ([`uid_gate::cli`], [`uid_gate::server`]).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use uid_gate::cli::{self, Cli, Command};
use uid_gate::config::Config;

fn main() -> ExitCode {
    uid_gate::abort_on_panic();
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Mint(args) => cli::mint_command(&args),
        Command::Healthcheck(args) => cli::healthcheck_command(&args),
        Command::CheckConfig(args) => cli::check_config_command(&args),
        Command::EnvoyConfig(args) => cli::envoy_config_command(&args),
        Command::InstallModule(args) => cli::install_module_command(&args),
    }
}

fn serve() -> ExitCode {
    let config = match cli::load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Held to the end of `serve`: dropping it writes the last buffered log lines.
    let _log_guard = uid_gate::telemetry::init(config.log_format, &config.log_filter);
    config.warnings.iter().for_each(|w| tracing::warn!("{w}"));
    if let Err(e) = run(config) {
        tracing::error!(error = %format!("{e:#}"), "uid-gate failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run(config: Config) -> anyhow::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.worker_threads {
        runtime.worker_threads(n);
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listeners = uid_gate::server::bind(&config).await?;
        let metrics = std::sync::Arc::default();
        let shutdown = uid_gate::server::shutdown_signal();
        Ok(uid_gate::server::run_with(listeners, config, metrics, shutdown).await?)
    })
}
