//! `callbridge` command-line entry point.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use callbridge::config::{Config, ENV_PREFIX, render_redacted};
use callbridge::serve::{Gateway, open_store, platforms, termination_signals};
use callbridge::{demo, install_kit, telemetry};
use callbridge_sandbox::microsoft::{MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed};
use callbridge_sandbox::slack::SlackSeed;
use clap::{Parser, Subcommand};

/// callbridge: one-to-one calls and presence between Slack and Microsoft Teams.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway with a configuration file.
    Serve {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run a complete gateway on embedded defaults (no accounts needed).
    Demo {
        /// Where the demo keeps its generated configuration and database.
        #[arg(long, default_value = "callbridge-demo")]
        data_dir: PathBuf,
        /// The port to listen on (127.0.0.1); another free port is used if it is taken.
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Apply database migrations and exit.
    Migrate {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Slack installation kit.
    Slack {
        #[command(subcommand)]
        command: SlackCommand,
    },
    /// Teams installation kit.
    Teams {
        #[command(subcommand)]
        command: TeamsCommand,
    },
    /// Run a local stand-in for a platform, for development and tests.
    Sandbox {
        #[command(subcommand)]
        platform: SandboxCommand,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// A local Slack: Web API, OAuth v2, signed commands, interactivity, Events API.
    Slack {
        /// Address to listen on (loopback by default).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// Seed file (TOML) with workspaces, users and the app; the built-in demo seed if absent.
        #[arg(long)]
        seed: Option<PathBuf>,
    },
    /// A local Microsoft side: Entra ID, Graph, Bot Connector and the Direct Routing SIP proxies.
    Teams {
        /// HTTP address for Entra, Graph and the Bot Connector; SIP proxies take free ports.
        #[arg(long, default_value = "127.0.0.1:8091")]
        listen: SocketAddr,
        /// Seed file (TOML) with tenants, users and apps; the built-in demo seed if absent.
        #[arg(long)]
        seed: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SlackCommand {
    /// Print a ready-to-paste Slack app manifest for this gateway.
    Manifest {
        /// The URL Slack reaches the gateway at (https://…).
        #[arg(long)]
        public_url: String,
    },
}

#[derive(Subcommand)]
enum TeamsCommand {
    /// Write the Teams app package (zip) and print the PowerShell that pairs the trunk.
    Manifest {
        /// The URL Teams reaches the gateway at (https://…).
        #[arg(long)]
        public_url: String,
        /// The SBC FQDN the Teams SIP proxies reach the trunk at.
        #[arg(long)]
        sbc_fqdn: String,
        /// The bot's Entra application id (a GUID).
        #[arg(long, env = "CALLBRIDGE_TEAMS_BOT_APP_ID")]
        bot_app_id: String,
        /// The first number of the range assigned to Slack users (E.164).
        #[arg(long, requires = "slack_number_count")]
        slack_numbers_from: Option<String>,
        /// How many numbers that range holds.
        #[arg(long, requires = "slack_numbers_from")]
        slack_number_count: Option<u64>,
        /// `-MaxConcurrentSessions` for the gateway.
        #[arg(long, default_value_t = 100)]
        max_sessions: u32,
        /// Where to write the app package.
        #[arg(long, default_value = "callbridge-teams.zip")]
        out: PathBuf,
    },
}

fn read_seed(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and print the effective configuration, secrets redacted.
    Check {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

fn env_overrides() -> impl Iterator<Item = (String, String)> {
    std::env::vars().filter(|(name, _)| name.starts_with(ENV_PREFIX))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve { config } => {
            let config = Config::load(&config, env_overrides())?;
            telemetry::init_logging(config.log_format, &config.log_level);
            let store = open_store(&config).await?;
            let platforms = platforms(&config, &store).await?;
            let gateway = Gateway::bind(&config, store)
                .await?
                .mount(platforms)
                .await?;
            tracing::info!(addr = %gateway.local_addr()?, "callbridge serving");
            gateway.run(termination_signals()).await?;
        }
        Command::Demo { data_dir, port } => {
            let prepared = demo::prepare(&data_dir, port)?;
            telemetry::init_logging(prepared.config.log_format, &prepared.config.log_level);
            let demo = demo::Demo::start(prepared).await?;
            println!("{}", demo.walkthrough());
            demo.run(termination_signals()).await?;
        }
        Command::Migrate { config } => {
            let config = Config::load(&config, env_overrides())?;
            telemetry::init_logging(config.log_format, &config.log_level);
            open_store(&config).await?.close().await;
            println!("migrations applied");
        }
        Command::Sandbox {
            platform: SandboxCommand::Slack { listen, seed },
        } => {
            telemetry::init_logging(telemetry::LogFormat::Pretty, "info");
            let seed = match seed {
                Some(path) => SlackSeed::from_toml_str(&read_seed(&path)?)?,
                None => SlackSeed::demo(),
            };
            println!(
                "Slack sandbox on http://{listen}/ (Web API under /api/, control under /_sandbox/)"
            );
            callbridge_sandbox::slack::serve_standalone(listen, seed).await?;
        }
        Command::Sandbox {
            platform: SandboxCommand::Teams { listen, seed },
        } => {
            telemetry::init_logging(telemetry::LogFormat::Pretty, "info");
            let seed = match seed {
                Some(path) => MicrosoftSeed::from_toml_str(&read_seed(&path)?)?,
                None => MicrosoftSeed::demo(),
            };
            let mut config = MicrosoftConfig::new(seed);
            config.http_addr = listen;
            let running = MicrosoftSandbox::start(config).await?;
            println!(
                "Microsoft sandbox on {}/ (Entra, Graph /v1.0, Bot Connector /v3, control under /_sandbox/)",
                running.base_url()
            );
            for proxy in running.sip_addrs() {
                println!(
                    "  SIP proxy {} ({}): udp {}  tcp {}  tls {}",
                    proxy.name, proxy.fqdn, proxy.udp, proxy.tcp, proxy.tls
                );
            }
            tokio::signal::ctrl_c().await?;
            running.shutdown().await;
        }
        Command::Slack {
            command: SlackCommand::Manifest { public_url },
        } => {
            print!("{}", install_kit::slack_manifest(&public_url)?);
        }
        Command::Teams {
            command:
                TeamsCommand::Manifest {
                    public_url,
                    sbc_fqdn,
                    bot_app_id,
                    slack_numbers_from,
                    slack_number_count,
                    max_sessions,
                    out,
                },
        } => {
            let request = install_kit::TeamsKitRequest {
                public_url: &public_url,
                sbc_fqdn: &sbc_fqdn,
                bot_app_id: &bot_app_id,
                slack_numbers: slack_numbers_from.as_deref().zip(slack_number_count),
                max_concurrent_sessions: max_sessions,
            };
            let script = install_kit::teams_kit(&request, &out)?;
            eprintln!("Teams app package written to {}", out.display());
            print!("{script}");
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            let config = Config::load(&file, env_overrides())?;
            print!("{}", render_redacted(&config));
        }
    }
    Ok(())
}
