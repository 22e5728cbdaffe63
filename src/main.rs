//! `shipdeck`: parse the command line, load config and theme (errors are
//! printed before the terminal enters raw mode), set up logging to a file,
//! then run the console or a headless command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use shipdeck::cli::{self, rollout as cli_rollout};
use shipdeck::paths::{Inventory, Paths};
use shipdeck::rollout::executor::Kind;
use shipdeck::{config, console, theme};

/// Ship Docker images to fleets of plain Docker hosts.
#[derive(Debug, Parser)]
#[command(name = "shipdeck", version, about)]
struct Args {
    /// Inventory file (default: $SHIPDECK_CONFIG, ./shipdeck.toml, then
    /// $XDG_CONFIG_HOME/shipdeck/config.toml). With none, the console opens
    /// read-only on $DOCKER_HOST or the current Docker context.
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

/// Options shared by `deploy` and `rollback`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Skip the typed confirmation of protected environments.
    #[arg(long)]
    yes: bool,
    /// One JSON event per line.
    #[arg(long)]
    json: bool,
    /// Wait up to SECS for another rollout's lock.
    #[arg(long, value_name = "SECS")]
    lock_wait: Option<u64>,
}

impl RunArgs {
    fn opts(&self, message: Option<String>) -> cli_rollout::RunOpts {
        cli_rollout::RunOpts {
            yes: self.yes,
            json: self.json,
            lock_wait: self.lock_wait,
            message,
        }
    }
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
    /// The serving containers' logs of every host of an environment (or of
    /// the HOSTs named) in one stream, `host | line` (`host ! line` for
    /// stderr). Exit 3 if a host could not be read.
    Logs(cli::logs::LogsArgs),
    /// Validate the inventory file and exit (0 valid, 2 invalid).
    Check,
    /// Print a shell completion script, made from this command line's
    /// definition: `shipdeck completions bash > /etc/bash_completion.d/shipdeck`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), made from this command line's definition:
    /// `shipdeck man > /usr/local/share/man/man1/shipdeck.1`.
    Man,
    /// Show the batches, gates and predicted duration of a deploy.
    Plan {
        project: String,
        env: String,
        version: String,
        #[arg(long)]
        json: bool,
    },
    /// Roll VERSION out to an environment in batches with health gates.
    /// Exit 0 only if VERSION runs healthy on every host at the end.
    Deploy {
        project: String,
        env: String,
        /// Image tag (not with --resume).
        version: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        /// Finish the interrupted release of this environment, as what it was
        /// (deploy, promotion or rollback); hosts already on it and healthy
        /// are skipped. Decided under the lock, from the journal and the fleet.
        #[arg(long, conflicts_with = "version")]
        resume: bool,
        /// A note stored with the lock and the release.
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Go back to the last release that served (kept containers, no pull).
    Rollback {
        project: String,
        env: String,
        /// Roll back to this version instead of the last release that served.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        /// A note stored with the lock and the release.
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Print the Dockerfile `build` would use (the project's template, rendered).
    Template { project: String },
    /// Build the project's image on its build host (and push it with --push).
    /// Exit 0 built; 1 the build or push failed; 2 nothing was built.
    Build {
        project: String,
        /// Image tag; default: git short sha + UTC timestamp of the build context.
        #[arg(long)]
        version: Option<String>,
        /// Push to the registry after the build (credentials from [[registries]]).
        #[arg(long)]
        push: bool,
        /// With --push: move the tag even if the registry has it already.
        #[arg(long, requires = "push")]
        force: bool,
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
    },
    /// Build the project's image, push it, and deploy it to ENV (the typed
    /// confirmation of a protected ENV is asked before the build).
    Ship {
        project: String,
        env: String,
        /// Image tag; default: git short sha + UTC timestamp of the build context.
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        /// A note stored with the lock and the release.
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Deploy to TO exactly the image (by digest) that runs healthy on every
    /// host of FROM. Refused when FROM is mixed, unhealthy or unreachable.
    Promote {
        project: String,
        from: String,
        to: String,
        #[command(flatten)]
        run: RunArgs,
        /// A note stored with the lock and the release.
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Who deployed, promoted, rolled back or built what, when, and how it
    /// ended (the local journal, and the fleet's ledger with an inventory).
    History {
        project: String,
        env: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The fleet lock of a project+environment: `status` or `break`.
    Lock {
        #[arg(value_parser = ["status", "break"])]
        verb: String,
        project: String,
        env: String,
        #[arg(long)]
        json: bool,
    },
    /// Pause, resume or abort a running rollout (from any machine).
    Control {
        project: String,
        env: String,
        #[arg(value_parser = ["pause", "resume", "abort"])]
        action: String,
    },
    /// The tags of the project's image in its registry, newest first
    /// (exit 1 if the registry refuses or cannot be reached).
    Tags {
        project: String,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Crates whose debug and trace output carries request bodies (a container
/// create holds resolved secrets, a registry login its password): they log
/// at `warn` whatever `SHIPDECK_LOG` says.
const QUIET_CRATES: [&str; 6] = ["hyper", "hyper_util", "reqwest", "bollard", "rustls", "h2"];

/// The log filter: `SHIPDECK_LOG` (default `info`) for shipdeck, `warn` for
/// the HTTP and Docker client crates.
fn log_filter(spec: Option<&str>) -> EnvFilter {
    let wanted = spec.unwrap_or("info");
    // Directives that name a quiet crate are dropped, then every quiet crate
    // is pinned to warn: the more specific directive wins over a global one.
    let kept: Vec<&str> = wanted
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| {
            let target = d.split(['=', '[']).next().unwrap_or("");
            !QUIET_CRATES
                .iter()
                .any(|q| target == *q || target.starts_with(&format!("{q}::")))
        })
        .collect();
    let mut spec = if kept.is_empty() {
        "info".to_string()
    } else {
        kept.join(",")
    };
    for q in QUIET_CRATES {
        spec.push_str(&format!(",{q}=warn"));
    }
    EnvFilter::try_new(&spec).unwrap_or_else(|_| {
        EnvFilter::new(
            "info,hyper=warn,hyper_util=warn,reqwest=warn,bollard=warn,rustls=warn,h2=warn",
        )
    })
}

fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use std::os::unix::fs::OpenOptionsExt;
    shipdeck::rollout::journal::private_dir(&paths.state_dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&paths.log_file)
        .ok()?;
    shipdeck::rollout::journal::private_file(&file).ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = log_filter(std::env::var("SHIPDECK_LOG").ok().as_deref());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    Some(guard)
}

/// An error that is only a closed stdout pipe.
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c).unwrap_or(1))
}

/// `completions` and `man`: generated from the command line's definition,
/// without a config or a log file. Made in memory first: a reader that
/// closes the pipe early (`| head`) is not an error.
fn generated(cmd: &Cmd) -> Option<ExitCode> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut text = Vec::new();
    match cmd {
        Cmd::Completions { shell } => {
            clap_complete::generate(*shell, &mut Args::command(), "shipdeck", &mut text);
        }
        Cmd::Man => {
            if let Err(e) = clap_mangen::Man::new(Args::command()).render(&mut text) {
                eprintln!("error: making the man page failed: {e}");
                return Some(ExitCode::from(1));
            }
        }
        _ => return None,
    }
    match std::io::stdout().lock().write_all(&text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: writing to stdout failed: {e}");
            Some(ExitCode::from(1))
        }
        _ => Some(ExitCode::SUCCESS),
    }
}

/// The inventory to run with: the file's, or, for the console when there
/// is none, the Docker environment's engine read once (read-only, with the
/// note the console shows). A command that needs an inventory and has
/// none says how to write one. Errors are printed here, before the
/// terminal is touched; `Err` is the exit code.
fn load_inventory(
    inventory: &Inventory,
    console: bool,
    runtime: &tokio::runtime::Runtime,
) -> Result<(Arc<config::Config>, Option<shipdeck::app::NoInventory>), ExitCode> {
    let path = match inventory {
        Inventory::Given(p) | Inventory::Found(p) => p,
        Inventory::Missing { default } if !console => {
            let e = config::no_inventory(default);
            eprintln!("{e}");
            return Err(ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)));
        }
        Inventory::Missing { .. } => {
            let docker = config::context::DockerEnv::from_env();
            let timeout = config::Settings::default().docker_timeout();
            return match runtime.block_on(console::no_inventory::discover(&docker, timeout)) {
                Ok((c, note)) => Ok((Arc::new(c), Some(note))),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Err(ExitCode::from(1))
                }
            };
        }
    };
    match config::load(path) {
        Ok(c) => Ok((Arc::new(c), None)),
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)))
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(code) = args.command.as_ref().and_then(generated) {
        return code;
    }
    let paths = Paths::from_env();
    shipdeck::ensure_crypto_provider();
    let _guard = init_logging(&paths);
    let inventory = paths.inventory(args.config.as_deref());
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

    // The theme is checked by every command, so a typo fails the same way
    // in CI as in the console.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if let Some(name) = &args.theme
        && let Err(e) = theme::load(name, Some(&paths.themes_dir), no_color)
    {
        eprintln!("{e}");
        return ExitCode::from(2);
    }

    // `history` reads the journal; an inventory only adds the fleet's ledger.
    if let Some(Cmd::History { project, env, json }) = &args.command
        && !config_file.exists()
    {
        let Ok(runtime) = tokio::runtime::Runtime::new() else {
            eprintln!("error: cannot start the async runtime");
            return ExitCode::from(1);
        };
        return code(runtime.block_on(cli_rollout::history(
            None,
            &paths,
            project,
            env.as_deref(),
            *json,
            &mut std::io::stdout().lock(),
        )));
    }

    // The console on one thread: its work is waiting on sockets, and a
    // wake-up between tasks then costs no hand-over to another thread (a
    // log flood spent a quarter of its CPU in such hand-overs: see
    // benches/README.md, "Logs"); what blocks goes to spawn_blocking.
    // Headless commands keep the multi-threaded runtime.
    let runtime = if args.command.is_none() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The ssh tunnels this run opens end with it.
    let _tunnels = shipdeck::engine::ssh::CloseAtExit;

    // Config errors are printed here, before anything touches the terminal.
    let (config, no_inventory) = match load_inventory(&inventory, args.command.is_none(), &runtime)
    {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if matches!(args.command, Some(Cmd::Check)) {
        for w in config.warnings() {
            eprintln!("warning: {w}");
        }
        println!(
            "{}: ok ({} projects, {} environments, {} hosts)",
            config_file.display(),
            config.projects.len(),
            config.environments.len(),
            config.hosts.len()
        );
        return ExitCode::SUCCESS;
    }
    if let Err(e) = theme::load(
        args.theme.as_deref().unwrap_or(&config.settings.theme),
        Some(&paths.themes_dir),
        no_color,
    ) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }

    match args.command {
        Some(Cmd::Status { project, env, json }) => {
            let mut out = std::io::stdout().lock();
            let journal = shipdeck::rollout::journal::Journal::in_dir(&paths.state_dir);
            match runtime.block_on(cli::status(
                config,
                &journal,
                project.as_deref(),
                env.as_deref(),
                json,
                &mut out,
            )) {
                Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                // `status --json | head`: the reader has what it wanted.
                Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Cmd::Info { .. } | Cmd::Check | Cmd::Completions { .. } | Cmd::Man) => {
            ExitCode::SUCCESS
        }
        Some(Cmd::Promote {
            project,
            from,
            to,
            run,
            message,
        }) => code(runtime.block_on(cli_rollout::promote(
            config,
            &paths,
            &project,
            &from,
            &to,
            run.opts(message),
            &mut std::io::stdout().lock(),
        ))),
        Some(Cmd::Ship {
            project,
            env,
            version,
            run,
            message,
        }) => code(runtime.block_on(cli_rollout::ship(
            config,
            &paths,
            &project,
            &env,
            version,
            run.opts(message),
            &mut std::io::stdout().lock(),
        ))),
        Some(Cmd::Template { project }) => code(cli::build::template(
            &config,
            &project,
            &mut std::io::stdout().lock(),
        )),
        Some(Cmd::Build {
            project,
            version,
            push,
            force,
            json,
        }) => code(runtime.block_on(cli::build::build(
            &config,
            &paths,
            &project,
            cli::build::BuildOpts {
                version,
                push,
                force,
                json,
            },
            &mut std::io::stdout().lock(),
        ))),
        Some(Cmd::Logs(args)) => code(runtime.block_on(cli::logs::logs(
            &config,
            &args,
            &mut std::io::stdout().lock(),
        ))),
        Some(Cmd::Plan {
            project,
            env,
            version,
            json,
        }) => code(runtime.block_on(cli_rollout::plan(
            &config,
            &paths,
            &project,
            &env,
            &version,
            json,
            &mut std::io::stdout().lock(),
        ))),
        Some(Cmd::Deploy {
            project,
            env,
            version,
            run,
            resume,
            message,
        }) => {
            let kind = match (version, resume) {
                (Some(version), false) => Kind::Deploy {
                    version,
                    digest: None,
                    promoted_from: None,
                },
                (None, true) => Kind::Resume,
                _ => {
                    eprintln!("error: deploy needs a VERSION (or --resume)");
                    return ExitCode::from(2);
                }
            };
            // A resumed rollout waits out the dead holder's lock by default.
            let lock_wait = run
                .lock_wait
                .or(resume.then(|| shipdeck::rollout::checks::lock_ttl().as_secs() + 15));
            let opts = cli_rollout::RunOpts {
                lock_wait,
                ..run.opts(message)
            };
            code(runtime.block_on(cli_rollout::run(
                config,
                &paths,
                &project,
                &env,
                kind,
                opts,
                &mut std::io::stdout().lock(),
            )))
        }
        Some(Cmd::Rollback {
            project,
            env,
            to,
            run,
            message,
        }) => {
            let opts = run.opts(message);
            code(runtime.block_on(cli_rollout::run(
                config,
                &paths,
                &project,
                &env,
                Kind::Rollback { to, digest: None },
                opts,
                &mut std::io::stdout().lock(),
            )))
        }
        Some(Cmd::History { project, env, json }) => code(runtime.block_on(cli_rollout::history(
            Some(&config),
            &paths,
            &project,
            env.as_deref(),
            json,
            &mut std::io::stdout().lock(),
        ))),
        Some(Cmd::Lock {
            verb,
            project,
            env,
            json,
        }) => code(runtime.block_on(cli_rollout::lock_cmd(
            &config,
            &paths,
            &verb,
            &project,
            &env,
            json,
            &mut std::io::stdout().lock(),
        ))),
        Some(Cmd::Control {
            project,
            env,
            action,
        }) => code(runtime.block_on(cli_rollout::control(
            &config,
            &project,
            &env,
            &action,
            &mut std::io::stdout().lock(),
        ))),
        Some(Cmd::Tags { project, json }) => code(runtime.block_on(cli::registry::tags(
            &config,
            &project,
            json,
            &mut std::io::stdout().lock(),
        ))),
        None => {
            let name = args.theme.as_deref().unwrap_or(&config.settings.theme);
            let theme = match theme::load(name, Some(&paths.themes_dir), no_color) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let opts = console::Options {
                readonly: args.readonly,
                no_inventory,
                state_dir: paths.state_dir.clone(),
            };
            match runtime.block_on(console::run(config, theme, opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
