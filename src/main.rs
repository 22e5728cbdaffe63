//! `shipdeck`: parse the command line, load config and theme (errors are
//! printed before the terminal enters raw mode), set up logging to a file,
//! then run the console or a headless command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use shipdeck::paths::Paths;
use shipdeck::{cli, config, console, theme};

/// Ship Docker images to fleets of plain Docker hosts.
#[derive(Debug, Parser)]
#[command(name = "shipdeck", version, about)]
struct Args {
    /// Inventory file (default: $SHIPDECK_CONFIG, ./shipdeck.toml, then
    /// $XDG_CONFIG_HOME/shipdeck/config.toml).
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
    /// Theme name (built-in or a file in the user themes dir); overrides the config.
    #[arg(long, global = true)]
    theme: Option<String>,
    /// Console: show everything, change nothing.
    #[arg(long)]
    readonly: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print where shipdeck keeps config, state and its log file.
    Info {
        #[arg(long)]
        json: bool,
    },
    /// Read the fleet once and print what runs where (exit 3 if an engine is unreachable).
    Status {
        /// Only this project.
        project: Option<String>,
        /// Only this environment.
        env: Option<String>,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Validate the inventory file and exit (0 valid, 2 invalid).
    Check,
}

fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    std::fs::create_dir_all(&paths.state_dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log_file)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = EnvFilter::try_from_env("SHIPDECK_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,hyper=warn,hyper_util=warn,reqwest=warn,bollard=warn,rustls=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    Some(guard)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let paths = Paths::from_env();
    // Both bollard (ring) and reqwest use rustls: pick one process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _guard = init_logging(&paths);
    let config_file = paths.config_file(args.config.as_deref());

    if let Some(Cmd::Info { json }) = &args.command {
        let mut out = std::io::stdout().lock();
        return match cli::info(&paths, &config_file, *json, &mut out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        };
    }

    // Config errors are printed here, before anything touches the terminal.
    let config = match config::load(&config_file) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    if matches!(args.command, Some(Cmd::Check)) {
        println!(
            "{}: ok ({} projects, {} environments, {} hosts)",
            config_file.display(),
            config.projects.len(),
            config.environments.len(),
            config.hosts.len()
        );
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };

    match args.command {
        Some(Cmd::Status { project, env, json }) => {
            let mut out = std::io::stdout().lock();
            match runtime.block_on(cli::status(
                config,
                project.as_deref(),
                env.as_deref(),
                json,
                &mut out,
            )) {
                Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Cmd::Info { .. } | Cmd::Check) => ExitCode::SUCCESS,
        None => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let name = args.theme.as_deref().unwrap_or(&config.settings.theme);
            let theme = match theme::load(name, Some(&paths.themes_dir), no_color) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(console::run(config, theme, args.readonly)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
