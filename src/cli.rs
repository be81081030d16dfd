//! The command line: `serve`, `schema`, `key`, `sync` and, with the `sim` feature,
//! `demo` and `sim`.

use std::{path::PathBuf, process::ExitCode};

#[cfg(feature = "sim")]
use std::net::SocketAddr;

#[cfg(feature = "sim")]
use clap::Args;
use clap::{Parser, Subcommand};

use crate::{
    auth::Role,
    config::Config,
    gateway::{self, Gateway},
    schema, server, shutdown,
    sync_cmd::{Remote, SyncAction},
};
#[cfg(feature = "sim")]
use crate::{
    demo,
    sim::{SimOptions, Sims},
};

/// One GraphQL API over a fitness club's CRM (HighLevel) and member system (Club OS).
#[derive(Debug, Parser)]
#[command(name = "contactgraph", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway against real GHL and Club OS.
    Serve {
        /// TOML configuration; every key can also come from CONTACTGRAPH_* variables.
        #[arg(long, env = "CONTACTGRAPH_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Both simulators and the gateway over them, in one process. No setup needed.
    #[cfg(feature = "sim")]
    Demo {
        /// Where the gateway listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        sims: SimArgs,
    },
    /// The GHL and Club OS simulators alone.
    #[cfg(feature = "sim")]
    Sim {
        #[command(flatten)]
        sims: SimArgs,
    },
    /// Print the GraphQL SDL (what schema.graphql holds).
    Schema,
    /// Run and watch the sync engine of a running gateway (needs an `admin` key).
    Sync {
        /// The gateway's address.
        #[arg(
            long,
            env = "CONTACTGRAPH_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
        /// An `admin` API key (`contactgraph key create --role admin`).
        #[arg(long, env = "CONTACTGRAPH_KEY", hide_env_values = true)]
        key: String,
        #[command(subcommand)]
        action: SyncAction,
    },
    /// Manage callers' API keys in the store the configuration names.
    Key {
        /// TOML configuration (for the store's URL).
        #[arg(long, env = "CONTACTGRAPH_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Create a key and print it (the only time it is shown; the store keeps a hash).
    Create {
        /// read, write or admin.
        #[arg(long)]
        role: String,
        /// What the key is for.
        #[arg(long, default_value = "")]
        label: String,
        /// Bind the key to these GHL locations (repeatable); unbound keys work anywhere.
        #[arg(long = "ghl-location")]
        ghl_locations: Vec<String>,
        /// Bind the key to these Club OS locations (repeatable).
        #[arg(long = "clubos-location")]
        clubos_locations: Vec<i64>,
    },
    /// Revoke a key by its id (the part after `cg_` and before the next `_`).
    Revoke { id: String },
}

#[cfg(feature = "sim")]
#[derive(Debug, Args)]
struct SimArgs {
    /// Where the GHL simulator listens (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    ghl_listen: SocketAddr,
    /// Where the Club OS simulator listens.
    #[arg(long, default_value = "127.0.0.1:0")]
    clubos_listen: SocketAddr,
    /// Seed of the generated club.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// People in the generated club.
    #[arg(long, default_value_t = 500)]
    people: usize,
}

#[cfg(feature = "sim")]
impl SimArgs {
    fn options(&self) -> SimOptions {
        SimOptions {
            seed: self.seed,
            people: self.people,
            ghl_listen: self.ghl_listen,
            clubos_listen: self.clubos_listen,
            ..SimOptions::default()
        }
    }
}

/// Parses the arguments and runs the command.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Schema => {
            print!("{}", schema::sdl());
            Ok(())
        }
        Command::Serve { config } => serve(config).await,
        #[cfg(feature = "sim")]
        Command::Demo { listen, sims } => demo::run(listen, sims.options()).await,
        #[cfg(feature = "sim")]
        Command::Sim { sims } => run_sims(sims.options()).await,
        Command::Key { config, action } => key(config, action).await,
        Command::Sync { url, key, action } => Remote::new(&url, key).sync(action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("contactgraph: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: colours only on a terminal; `CONTACTGRAPH_LOG_FORMAT=json` writes one
/// JSON object per line (for log collectors).
fn init_tracing() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONTACTGRAPH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let json =
        std::env::var("CONTACTGRAPH_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
}

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let cfg = Config::load(config.as_deref())?;
    let listener = server::bind(cfg.server.listen).await?;
    let gateway = Gateway::start(&cfg, listener, gateway::Options::default()).await?;
    tracing::info!(addr = %gateway.addr, "contactgraph serving");
    gateway.run_until(shutdown::signal()).await?;
    Ok(())
}

async fn key(config: Option<PathBuf>, action: KeyAction) -> anyhow::Result<()> {
    let store_cfg = Config::load_store(config.as_deref())?;
    let store = crate::store::Store::connect(&store_cfg.url).await?;
    match action {
        KeyAction::Create {
            role,
            label,
            ghl_locations,
            clubos_locations,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role must be read, write or admin"))?;
            let binding = crate::auth::Binding {
                ghl_locations: (!ghl_locations.is_empty()).then_some(ghl_locations),
                clubos_locations: (!clubos_locations.is_empty()).then_some(clubos_locations),
            };
            println!(
                "{}",
                crate::auth::create_key(&store, role, &label, binding).await?
            );
        }
        KeyAction::Revoke { id } => {
            if !store.revoke_api_key(&id).await? {
                anyhow::bail!("no live key has the id {id}");
            }
            println!("revoked key {id}: requests with it now get 401");
        }
    }
    Ok(())
}

#[cfg(feature = "sim")]
async fn run_sims(opts: SimOptions) -> anyhow::Result<()> {
    let sims = Sims::start(opts).await?;
    println!("GHL simulator:     {}", sims.ghl.url());
    println!("Club OS simulator: {}", sims.clubos.url());
    println!("Credentials and example ids: GET <url>/_sim/seed");
    println!(
        "GHL webhooks: POST {}/_sim/config {{\"webhook_url\": \"...\"}}; key and deliveries: GET {}/_sim/webhooks",
        sims.ghl.url(),
        sims.ghl.url()
    );
    shutdown::signal().await;
    Ok(())
}
