//! `mcp-gate`: the native operator command. Its usage is clap's, from the types below and in
//! `dev` and `rules`: `mcp-gate --help`, `mcp-gate <command> --help`.
//!
//! Exit codes: 0 success, 1 invalid document or failed action, 2 usage error (clap's own for
//! anything it rejects while parsing).

#[cfg(not(target_arch = "wasm32"))]
mod dev;
#[cfg(not(target_arch = "wasm32"))]
mod rules;

/// Operator command for mcp-gate: development keys and tokens, scope rules.
///
/// Exit codes: 0 success, 1 invalid document or failed action, 2 usage error.
#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Parser)]
#[command(name = "mcp-gate", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Subcommand)]
enum Command {
    DevKeys(dev::KeysArgs),
    Token(dev::TokenArgs),
    Rules(rules::RulesArgs),
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let cli = <Cli as clap::Parser>::parse();
    let code = match cli.command {
        Command::DevKeys(args) => dev::keys_command(&args),
        Command::Token(args) => dev::token_command(&args),
        Command::Rules(args) => rules::run(args),
    };
    std::process::exit(code);
}

#[cfg(target_arch = "wasm32")]
fn main() {}
