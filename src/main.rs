//! The `fieldsync` command: serve, migrate, user create, backup, demo.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use fieldsync::auth::{Role, password};
use fieldsync::config::Config;
use fieldsync::reference::users::{self, NewUser};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fieldsync",
    version,
    about = "Offline-first field inspection server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrates first; creates the admin on an empty
    /// database).
    Serve {
        #[command(flatten)]
        config: Config,
    },
    /// Apply the database migrations and exit.
    Migrate {
        #[command(flatten)]
        config: Config,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Copy the database, consistently, to a new file while the server runs.
    Backup {
        /// The file to write (must not exist).
        to: PathBuf,
        #[command(flatten)]
        config: Config,
    },
    /// Load a demo district into an empty database.
    Demo {
        /// Password for every demo user.
        #[arg(
            long,
            env = "FIELDSYNC_DEMO_PASSWORD",
            default_value = "fieldsync-demo"
        )]
        password: String,
        #[command(flatten)]
        config: Config,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password comes from --password or, without it,
    /// from the first line of standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The group's id or name (inspectors need one).
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, env = "FIELDSYNC_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        config: Config,
    },
}

/// Logs to stderr: one line per event and one per request (when its span
/// closes: method, route, status, request id, time taken). Colour only on a
/// terminal; `FIELDSYNC_LOG_FORMAT=json` writes one JSON object per line
/// for log shippers, with the request's span (and so its request id) on
/// every line logged while serving it, database work included.
fn init_logs() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIELDSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let spans = tracing_subscriber::fmt::format::FmtSpan::CLOSE;
    let json = std::env::var("FIELDSYNC_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_span_events(spans)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_span_events(spans)
            .init();
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "one of inspector, coordinator, admin".to_string())
}

fn main() -> ExitCode {
    init_logs();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldsync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Migrate { config } => {
            fieldsync::bootstrap::open_db(&config)?;
            println!("database {} is up to date", config.database().describe());
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    username,
                    role,
                    group,
                    display_name,
                    password: pw,
                    config,
                },
        } => create_user(config, username, role, group, display_name, pw),
        Command::Backup { to, config } => {
            let db = fieldsync::bootstrap::open_db(&config)?;
            db.backup(&to).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("backed up to {}", to.display());
            Ok(())
        }
        Command::Demo {
            password: pw,
            config,
        } => {
            let boot = fieldsync::bootstrap::prepare(&config)?;
            if let Some(admin_pw) = &boot.admin_password {
                println!("created user `admin` with password: {admin_pw}  (shown once)");
            }
            let loaded =
                fieldsync::demo::load(&boot.db, &pw).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "demo district loaded: {} groups, {} sites, {} checklists, {} routes",
                loaded.groups, loaded.sites, loaded.templates, loaded.routes
            );
            println!("users (password `{pw}`):");
            for (name, role) in &loaded.users {
                println!("  {name:<12} {}", role.as_str());
            }
            Ok(())
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let started = fieldsync::start(config)?;
        if let Some(pw) = &started.admin_password {
            println!("created user `admin` with password: {pw}  (shown once; set FIELDSYNC_ADMIN_PASSWORD to choose it)");
        }
        for addr in &started.addrs {
            println!("fieldsync listening on http://{addr}");
        }
        let served = started.server.await.context("server failed");
        started.jobs.shutdown();
        served
    })
}

fn create_user(
    config: Config,
    username: String,
    role: Role,
    group: Option<String>,
    display_name: Option<String>,
    pw: Option<String>,
) -> anyhow::Result<()> {
    let pw = match pw {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    password::check_policy(&pw).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let hash = password::hash(&pw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = fieldsync::bootstrap::open_db(&config)?;
    let user = db
        .write_blocking(move |c| {
            let group_id = match &group {
                Some(g) => Some(fieldsync::reference::groups::resolve(c, g)?),
                None => None,
            };
            users::insert(
                c,
                None,
                NewUser {
                    username,
                    display_name,
                    role,
                    group_id,
                    department_id: None,
                    password: String::new(),
                },
                hash,
            )
        })
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if user.id.is_empty() {
        bail!("user was not created");
    }
    println!(
        "created {} {} ({})",
        user.role.as_str(),
        user.username,
        user.id
    );
    Ok(())
}
