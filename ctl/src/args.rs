//! The command line: flags with docker's names, parsed by clap.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use mydocker::v1;

/// Where the shims keep their state unless told otherwise.
pub const DEFAULT_ROOT: &str = "/run/mydocker";

#[derive(Parser, Debug)]
#[command(
    name = "mydockerctl",
    version,
    about = "Run and manage containers, each supervised by its own mydocker shim",
    after_help = "Container state lives under --root (default /run/mydocker, or $MYDOCKER_ROOT)."
)]
pub struct Cli {
    /// State root of the shims.
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_ROOT",
        default_value = DEFAULT_ROOT
    )]
    pub root: PathBuf,
    /// Where images are kept.
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_DATA_ROOT",
        default_value = "/var/lib/mydocker",
        value_name = "DIR"
    )]
    pub data_root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a new container
    #[command(
        override_usage = "mydockerctl run [OPTIONS] IMAGE [COMMAND] [ARG...]\n       mydockerctl run [OPTIONS] --rootfs DIR|/ COMMAND [ARG...]\n       mydockerctl run [OPTIONS] --bundle DIR"
    )]
    Run(RunArgs),
    /// Create a new container without starting it (prints its id)
    #[command(
        override_usage = "mydockerctl create [OPTIONS] IMAGE [COMMAND] [ARG...]\n       mydockerctl create [OPTIONS] --rootfs DIR|/ COMMAND [ARG...]\n       mydockerctl create [OPTIONS] --bundle DIR"
    )]
    Create(RunArgs),
    /// Start one or more created containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Show low-level information on containers, as JSON
    Inspect(InspectArgs),
    /// Show a container's output
    Logs(LogsArgs),
    /// Stop one or more running containers: SIGTERM, then SIGKILL after a grace period
    Stop(StopArgs),
    /// Send a signal to one or more running containers
    Kill(KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(IdsArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Attach to a running container's terminal or output
    Attach(AttachArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Show the processes of a running container (ps, from its cgroup)
    Top(TopArgs),
    /// Show the client's and the shim's versions
    Version,
    /// Show what is installed, and how many containers there are
    Info,
    /// Show live resource usage of containers
    Stats(StatsArgs),
    /// Change the resource limits of one or more containers
    Update(UpdateArgs),
    /// Pause all processes within one or more containers
    Pause(IdsArgs),
    /// Unpause all processes within one or more containers
    Unpause(IdsArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pull an image from a registry
    Pull(PullArgs),
    /// Load images from a docker save archive or an OCI image layout
    Load(LoadArgs),
    /// Save images to a tar archive (docker save's form; stdout by default)
    Save(SaveArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Manage networks (CNI configuration lists under the data root)
    #[command(subcommand)]
    Network(NetworkCommand),
}

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a bridge network
    Create(NetworkCreateArgs),
    /// List networks
    Ls(NetworkLsArgs),
    /// Remove one or more networks
    Rm(NetworkRmArgs),
    /// Show one or more networks' configuration
    Inspect(NetworkRmArgs),
}

#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Subnet in CIDR form (default: the first free 10.N.0.0/16, N from 78)
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// Gateway (default: the subnet's first address)
    #[arg(long, value_name = "IP")]
    pub gateway: Option<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct NetworkLsArgs {
    /// Only the names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct NetworkRmArgs {
    #[arg(value_name = "NETWORK", required = true)]
    pub names: Vec<String>,
}

/// docker's `--pull` of `run` and `create`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    /// When it is not in the store
    Missing,
    /// Every time (an image up to date is not fetched again)
    Always,
    /// Never: an image not in the store is an error
    Never,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Print only the image's name
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// A registry spoken to over plain HTTP (HOST[:PORT]; loopback ones are,
    /// as docker's)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,
    /// NAME[:TAG|@DIGEST]
    #[arg(value_name = "NAME")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// A `docker save` tar (plain, gzip or zstd), an OCI image layout
    /// directory, or a tar of one; default: stdin
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print nothing
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to this file instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only the image ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Full image ids
    #[arg(long)]
    pub no_trunc: bool,
    /// `json`: one JSON object a line
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Remove an image that has several tags, by its id
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub id: String,
    #[arg(value_name = "NEW_NAME")]
    pub name: String,
}

impl Command {
    /// Exit code for an error that has no code of its own: docker's 125 for
    /// `run` (the container could not be run), 1 for the rest.
    pub fn failure_code(&self) -> i32 {
        match self {
            Command::Run(_) | Command::Create(_) => 125,
            _ => 1,
        }
    }
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Exit status: the command's own, 128+N when killed by signal N, 125 when the container could not be created, 126 when the command cannot be invoked, 127 when it is not found."
)]
pub struct RunArgs {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Pull the image before running: missing, always, never
    #[arg(long, value_enum, default_value = "missing", value_name = "POLICY")]
    pub pull: PullPolicy,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Connect to a network: none (only lo), host, container:ID, or a
    /// network's name (bridge: the default one, made on first use)
    #[arg(
        long = "network",
        visible_alias = "net",
        default_value = "none",
        value_name = "NETWORK"
    )]
    pub network: String,
    /// Publish a port: [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    /// The container's address on its network
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// A name server for the container's /etc/resolv.conf (instead of the host's)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// A line for the container's /etc/hosts: NAME:IP
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Run in the background and print the container id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep stdin open and forward it to the container
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal and attach to it interactively (implies -i)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Key sequence that detaches from a terminal, leaving the container running
    #[arg(long, default_value = crate::terminal::DEFAULT_DETACH_KEYS, value_name = "KEYS")]
    pub detach_keys: String,
    /// Assign a name to the container
    #[arg(long, allow_hyphen_values = true)]
    pub name: Option<String>,
    /// Restart policy when the command exits: no, always, unless-stopped, on-failure[:N]
    #[arg(long, default_value = "no", value_name = "POLICY")]
    pub restart: String,
    /// Forward the signals mydockerctl receives to the container (run without -t)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub sig_proxy: bool,
    /// Set an environment variable (KEY=VALUE; a bare KEY takes its value from here)
    #[arg(
        short = 'e',
        long = "env",
        value_name = "KEY=VALUE",
        allow_hyphen_values = true
    )]
    pub env: Vec<String>,
    /// Container hostname (default: the short container id, as docker)
    #[arg(long, allow_hyphen_values = true)]
    pub hostname: Option<String>,
    /// Working directory inside the container
    #[arg(
        short = 'w',
        long = "workdir",
        value_name = "DIR",
        allow_hyphen_values = true
    )]
    pub workdir: Option<String>,
    /// Give the container every capability and no masked or read-only paths
    #[arg(long)]
    pub privileged: bool,
    /// A directory to be the container's root file system, instead of an
    /// image's (`/`: the host's, as the container's mount namespace copies it)
    #[arg(long, value_name = "DIR", conflicts_with = "bundle")]
    pub rootfs: Option<PathBuf>,
    /// An OCI runtime bundle (a directory with config.json): its spec says
    /// what the container is, and CMD is then not given
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Bind mount a host path: HOST:CONTAINER[:ro] (needs --rootfs)
    #[arg(short = 'v', long = "volume", value_name = "HOST:CTR[:OPTS]")]
    pub volumes: Vec<String>,
    /// Attach a mount: type=bind|tmpfs,source=HOST,target=CTR[,readonly]
    #[arg(long = "mount", value_name = "SPEC")]
    pub mounts: Vec<String>,
    /// Mount a tmpfs: CONTAINER[:OPTIONS]
    #[arg(long = "tmpfs", value_name = "CTR[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root file system read-only
    #[arg(long)]
    pub read_only: bool,
    /// User (name or UID) and group (name or GID): USER[:GROUP]
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// A resource limit: TYPE=SOFT[:HARD] (nofile, nproc, core, ...)
    #[arg(long = "ulimit", value_name = "TYPE=SOFT[:HARD]")]
    pub ulimits: Vec<String>,
    /// Add a capability to docker's default set (NET_ADMIN, ALL, ...)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from docker's default set (ALL: every one)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Security options: seccomp=unconfined|PROFILE.json, no-new-privileges
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opts: Vec<String>,
    /// A sysctl of the container's own namespaces: KEY=VALUE
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    pub sysctls: Vec<String>,
    /// A host device for the container: HOST[:CONTAINER[:PERMISSIONS]]
    #[arg(long = "device", value_name = "HOST[:CTR[:rwm]]")]
    pub devices: Vec<String>,
    /// The program to run, before CMD's arguments (CMD may then be empty)
    #[arg(long, value_name = "PROGRAM", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Parent cgroup of the container's cgroup (<parent>/<id>)
    #[arg(
        long,
        env = "MYDOCKER_CGROUP_PARENT",
        default_value = "mydocker",
        value_name = "PATH"
    )]
    pub cgroup_parent: String,
    /// The image, then the command and its arguments (the image's own when
    /// none is given); with --rootfs, the command alone. Options after the
    /// image belong to the command
    #[arg(
        required_unless_present_any = ["bundle", "rootfs"],
        trailing_var_arg = true,
        value_name = "IMAGE"
    )]
    pub command: Vec<String>,
}

/// Resource limits, with docker's names and units (run, create, update).
#[derive(Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Memory limit (bytes, or with a b, k, m or g suffix; at least 6m)
    #[arg(short = 'm', long, value_name = "BYTES", allow_negative_numbers = true)]
    pub memory: Option<String>,
    /// Number of CPUs (a decimal: CFS quota over a 100 ms period)
    #[arg(long, value_name = "DECIMAL", allow_negative_numbers = true)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight, 2 to 262144)
    #[arg(short = 'c', long, value_name = "SHARES")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 or 0 for none)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
}

impl LimitArgs {
    /// Parses and checks the limits as docker does, before anything starts.
    pub fn to_resources(&self, cgroup_parent: &str) -> anyhow::Result<v1::Resources> {
        use mydocker::units;
        let memory = self
            .memory
            .as_deref()
            .map(units::parse_bytes)
            .transpose()?
            .unwrap_or(0);
        let nano_cpus = self
            .cpus
            .as_deref()
            .map(units::parse_cpus)
            .transpose()?
            .unwrap_or(0);
        let limits = units::Limits {
            memory_limit_bytes: memory,
            nano_cpus,
            cpu_shares: self.cpu_shares.unwrap_or(0),
            cpuset_cpus: self.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: self.cpuset_mems.clone().unwrap_or_default(),
            pids_limit: self.pids_limit.unwrap_or(0),
            cgroup_parent: cgroup_parent.to_string(),
        };
        units::check_limits(&limits, &units::online("cpu"), &units::online("node"))?;
        Ok(limits.into())
    }
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Print one table and exit, instead of refreshing it every second
    #[arg(long)]
    pub no_stream: bool,
    /// Containers (default: all running)
    #[arg(value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach to the container's output (and terminal) and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's stdin
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Key sequence that detaches from a terminal
    #[arg(long, default_value = crate::terminal::DEFAULT_DETACH_KEYS, value_name = "KEYS")]
    pub detach_keys: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format each container with a template: {{.State.Status}}, {{json .Config}}
    #[arg(short = 'f', long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output format: "table" or "json" (one JSON object per line)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Filter: status=created|running|exited|dead, name=NAME, id=ID (repeat
    /// a key for either, different keys for both)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Show the N containers created last (all states)
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Show the container created last (all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Do not truncate ids and commands
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow the output until the container exits
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for all)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Only lines since this time: RFC 3339, Unix seconds, or a duration back (10m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines before this time (as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub id: String,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait for the container to exit before killing it
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send: a name (KILL, SIGTERM) or a number
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

#[derive(Args, Debug)]
pub struct IdsArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Shows the recent output first (up to 64 KiB), so a terminal shows its current screen. Exits with the container's exit code if it exits while attached; detaching exits 0."
)]
pub struct AttachArgs {
    /// Key sequence that detaches, leaving the container running
    #[arg(long, default_value = crate::terminal::DEFAULT_DETACH_KEYS, value_name = "KEYS")]
    pub detach_keys: String,
    /// Do not forward stdin
    #[arg(long)]
    pub no_stdin: bool,
    /// Forward the signals mydockerctl receives to the container (without a terminal)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub id: String,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Exit status: the command's own, 128+N when killed by signal N, 126 when it cannot be invoked, 127 when it is not found, 1 when the container is not running."
)]
pub struct ExecArgs {
    /// Run in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep stdin open and forward it to the command
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable (KEY=VALUE; a bare KEY takes its value from here)
    #[arg(
        short = 'e',
        long = "env",
        value_name = "KEY=VALUE",
        allow_hyphen_values = true
    )]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(
        short = 'w',
        long = "workdir",
        value_name = "DIR",
        allow_hyphen_values = true
    )]
    pub workdir: Option<String>,
    /// User (name or UID) and group (name or GID): USER[:GROUP]
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Key sequence that detaches from a terminal, leaving the command running
    #[arg(long, default_value = crate::terminal::DEFAULT_DETACH_KEYS, value_name = "KEYS")]
    pub detach_keys: String,
    #[arg(value_name = "CONTAINER")]
    pub id: String,
    /// The command and its arguments; options after CMD belong to CMD
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub id: String,
    /// Options for ps (default -f)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PS_OPTIONS"
    )]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Kill a running container before removing it
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

/// Parses KILL, SIGKILL, kill or 9.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        anyhow::bail!("invalid signal: {s}");
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .with_context(|| format!("invalid signal: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("hup").unwrap(), 1);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("NOPE").is_err());
    }

    #[test]
    fn run_keeps_options_after_the_command_for_it() {
        let cli = Cli::try_parse_from([
            "mydockerctl",
            "run",
            "--rm",
            "sh",
            "-c",
            "echo -e x",
            "--rm",
        ])
        .unwrap();
        let Command::Run(r) = cli.command else {
            panic!()
        };
        assert!(r.rm);
        assert_eq!(r.command, ["sh", "-c", "echo -e x", "--rm"]);
    }
}
