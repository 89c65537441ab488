//! `rapidbyte`: run data pipelines declared in YAML, with sandboxed
//! WebAssembly connectors.

mod commands;
mod logging;
mod output;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a pipeline that ran and failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "rapidbyte",
    version,
    about = "Move data from sources to destinations, declared in one YAML file"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline file, or every *.yaml pipeline in a directory.
    Run {
        /// A pipeline YAML file or a directory of them.
        path: PathBuf,
        /// Print the run summary as JSON (one object per pipeline) instead
        /// of the table.
        #[arg(long)]
        json: bool,
    },
    /// Validate a pipeline: configuration, connectors, credentials, streams.
    Check {
        /// The pipeline YAML file.
        path: PathBuf,
    },
    /// List the streams a source connector offers, with their schemas.
    Discover {
        /// Connector reference: name (`source-file`, `rapidbyte/source-file@0.1.0`) or path.
        connector: String,
        /// YAML or JSON file holding the connector's config mapping.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the catalog as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the connector contract test suite against a connector.
    Conformance {
        /// Connector reference: name, directory with rapidbyte-plugin.yaml, or .wasm path.
        connector: String,
        /// YAML or JSON file holding the connector's config mapping.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Fixture directory; an executable `append` there adds rows between
        /// incremental reads and prints how many.
        #[arg(long)]
        fixture: Option<PathBuf>,
        /// For destinations: a source that reads the written data back.
        #[arg(long)]
        paired: Option<String>,
        /// Config file of the --paired source.
        #[arg(long, requires = "paired")]
        paired_config: Option<PathBuf>,
        /// Start a fixture instead of --config: `files` (sample CSV in a temp
        /// dir) or `postgres` (a throwaway cluster with a sample table; needs
        /// Debian's postgresql package). Sets the config, the append hook and,
        /// for destinations, the paired source.
        #[arg(long, value_name = "KIND")]
        start: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a workspace: pipelines/, connectors/, contracts/, rapidbyte.toml.
    Init {
        /// Directory to create.
        dir: PathBuf,
    },
    /// Inspect or reset sync state.
    State {
        #[command(subcommand)]
        action: StateAction,
    },
}

#[derive(Subcommand)]
enum StateAction {
    /// Show cursors and recent runs of a pipeline.
    Show {
        /// The pipeline YAML file.
        path: PathBuf,
    },
    /// Forget saved cursors (the next sync reads everything).
    Reset {
        /// The pipeline YAML file.
        path: PathBuf,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    logging::init();
    rapidbyte_host::ipc::install_panic_hook();
    let result = match cli.command {
        Command::Run { path, json } => commands::run(&path, json, &signals::install()),
        Command::Check { path } => commands::check(&path),
        Command::Discover {
            connector,
            config,
            json,
        } => commands::discover(&connector, config.as_deref(), json),
        Command::Conformance {
            connector,
            config,
            fixture,
            paired,
            paired_config,
            start,
            json,
        } => commands::conformance(&commands::ConformanceArgs {
            connector: &connector,
            config: config.as_deref(),
            fixture: fixture.as_deref(),
            paired: paired.as_deref().map(|p| (p, paired_config.as_deref())),
            start: start.as_deref(),
            json,
        }),
        Command::Init { dir } => commands::init(&dir),
        Command::State { action } => match action {
            StateAction::Show { path } => commands::state_show(&path),
            StateAction::Reset { path, stream } => commands::state_reset(&path, stream.as_deref()),
        },
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::exit_code_for(&e))
        }
    }
}
