//! `mcp-gate`: the native operator command.
//!
//! - `mcp-gate dev-keys [--dir .dev]`: development signing keys (never for production).
//! - `mcp-gate token [--dir .dev] [--alg RS256|ES256|EdDSA] --iss ISS --aud AUD ...`: a
//!   development token signed with those keys.
//! - `mcp-gate rules check|explain|put ...`: validate, explain and write scope rules.

#[cfg(not(target_arch = "wasm32"))]
mod dev;
#[cfg(not(target_arch = "wasm32"))]
mod rules;

#[cfg(not(target_arch = "wasm32"))]
const USAGE: &str = "usage:
  mcp-gate dev-keys [--dir DIR]
  mcp-gate token [--dir DIR] [--alg RS256|ES256|EdDSA] --iss ISS --aud AUD [--sub SUB]
                 [--scope \"a b\"] [--client-id ID] [--ttl SECONDS]
  mcp-gate rules check FILE
  mcp-gate rules explain FILE [--body FILE|-] [--method M] [--name N] [--uri U]
                 [--http-method GET --path /mcp] --scopes \"a b\"
  mcp-gate rules put FILE [--local|--remote] [--persist-to DIR]";

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("dev-keys") => dev::keys_command(&args[1..]),
        Some("token") => dev::token_command(&args[1..]),
        Some("rules") => rules::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

#[cfg(target_arch = "wasm32")]
fn main() {}
