//! `mcp-gate rules …`: validate a rules document, explain the decision for a request, and write
//! a document to Workers KV only once it is valid.

use mcp_gate::lists::{EntryPolicy, ListKind};
use mcp_gate::rpc::{inspect, RpcBody};
use mcp_gate::rules::{AuthzError, Decision, RequestFacts, Requirement, RuleSet};
use std::io::Read;
use std::process::Command;

/// Validate, explain and write scope rules.
#[derive(clap::Args)]
#[command(arg_required_else_help = true)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(clap::Subcommand)]
enum RulesCommand {
    Check(CheckArgs),
    Explain(ExplainOptions),
    Put(PutArgs),
}

/// Validate a rules document: exit 0 when valid, 1 otherwise.
///
/// Prints "ok: N rules, default=..." for a valid document; otherwise each error names the rule,
/// the field and, for JSON syntax, the line and column.
#[derive(clap::Args)]
struct CheckArgs {
    /// The rules document (JSON)
    #[arg(value_name = "FILE")]
    file: String,
}

/// Show which rule decides each message of a request, and the gate's answer.
///
/// Prints the deciding rule per JSON-RPC message, the scopes required, granted and missing, and
/// the answer the gate would give (including the exact WWW-Authenticate). The request is a
/// JSON-RPC POST body (--body), a one-message body built from --method/--name/--uri, or, with
/// neither, a body-less request (GET by default).
///
/// With --list, explains a saved answer to tools/list, prompts/list, resources/list or
/// resources/templates/list instead: which of its entries a client with --scopes would see.
#[derive(clap::Args)]
struct ExplainOptions {
    /// The rules document (JSON)
    #[arg(value_name = "FILE")]
    file: String,
    /// A JSON-RPC POST body (a message or a batch) from a file, or - for stdin
    #[arg(long, value_name = "FILE|-", conflicts_with = "method")]
    body: Option<String>,
    /// The JSON-RPC method of a one-message body, e.g. tools/call
    #[arg(long, value_name = "M")]
    method: Option<String>,
    /// params.name of that message (a tool or prompt; the prompt of completion/complete)
    #[arg(long, value_name = "N", requires = "method")]
    name: Option<String>,
    /// params.uri of that message (a resource; the resource of completion/complete)
    #[arg(long, value_name = "U", requires = "method")]
    uri: Option<String>,
    /// HTTP method; without it, POST for a request with a body and GET for one without
    #[arg(long, value_name = "M")]
    http_method: Option<String>,
    /// Request path
    #[arg(long, value_name = "P", default_value = "/mcp")]
    path: String,
    /// The token's granted scopes, space-separated; none without it
    #[arg(long, value_name = "SCOPES")]
    scopes: Option<String>,
    /// The gate's REQUIRED_SCOPES, space-separated; none without it
    #[arg(long, value_name = "SCOPES")]
    required_scopes: Option<String>,
    /// A saved list answer (the JSON-RPC response or its result) to explain instead of a request
    #[arg(long, value_name = "ANSWER", conflicts_with_all = ["body", "method"])]
    list: Option<String>,
}

/// Validate a rules document, then write it to Workers KV.
///
/// Writes FILE to the KV key `rules` of the GATE_KV binding with
/// `npx wrangler kv key put rules --path FILE --binding GATE_KV`; an invalid file is never
/// written. Exits with wrangler's code when wrangler fails.
#[derive(clap::Args)]
#[command(args_override_self = true)]
struct PutArgs {
    /// The rules document (JSON)
    #[arg(value_name = "FILE")]
    file: String,
    /// Write to the local KV of `wrangler dev` (the default)
    #[arg(long, conflicts_with = "remote")]
    local: bool,
    /// Write to the deployed namespace
    #[arg(long)]
    remote: bool,
    /// The local state directory of `wrangler dev`
    #[arg(long, value_name = "DIR", conflicts_with = "remote")]
    persist_to: Option<String>,
}

/// Exit codes: 0 success, 1 invalid document or failed action, 2 usage error.
pub fn run(args: RulesArgs) -> i32 {
    match args.command {
        RulesCommand::Check(args) => check(&args.file),
        RulesCommand::Explain(options) => explain(&options),
        RulesCommand::Put(args) => put(&args),
    }
}

/// Reads and validates a rules file, reporting problems on stderr.
fn load(path: &str) -> Result<RuleSet, i32> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read {path}: {error}");
            return Err(1);
        }
    };
    RuleSet::parse(&text).map_err(|error| {
        eprintln!("error: {path}: {error}");
        1
    })
}

fn summary(rules: &RuleSet) -> String {
    let mut text = format!(
        "ok: {} rules, default={}",
        rules.rules().len(),
        rules.default_decision().as_str()
    );
    if rules.allow_global_wildcard() {
        text.push_str(", allow_global_wildcard=true");
    }
    text
}

fn check(path: &str) -> i32 {
    match load(path) {
        Ok(rules) => {
            println!("{}", summary(&rules));
            0
        }
        Err(code) => code,
    }
}

/// The one-message body `--method/--name/--uri` stand for.
fn synthetic_body(method: &str, name: Option<&str>, uri: Option<&str>) -> Vec<u8> {
    let mut target = serde_json::Map::new();
    if let Some(name) = name {
        target.insert("name".into(), name.into());
    }
    if let Some(uri) = uri {
        target.insert("uri".into(), uri.into());
    }
    let params = if method == "completion/complete" {
        let kind = if uri.is_some() {
            "ref/resource"
        } else {
            "ref/prompt"
        };
        target.insert("type".into(), kind.into());
        serde_json::json!({ "ref": target, "argument": { "name": "value", "value": "" } })
    } else {
        serde_json::Value::Object(target)
    };
    let message =
        serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    message.to_string().into_bytes()
}

fn read_body(source: &str) -> Result<Vec<u8>, String> {
    if source == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
        Ok(body)
    } else {
        std::fs::read(source).map_err(|e| format!("cannot read {source}: {e}"))
    }
}

fn words(list: Option<&str>) -> Vec<String> {
    list.unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn explain(options: &ExplainOptions) -> i32 {
    let file = options.file.as_str();
    let rules = match load(file) {
        Ok(rules) => rules,
        Err(code) => return code,
    };
    if let Some(answer) = options.list.as_deref() {
        return explain_list(&rules, file, answer, options);
    }
    let body_bytes = match (&options.body, &options.method) {
        (Some(source), _) => match read_body(source) {
            Ok(bytes) => Some(bytes),
            Err(problem) => {
                eprintln!("error: {problem}");
                return 1;
            }
        },
        (None, Some(method)) => Some(synthetic_body(
            method,
            options.name.as_deref(),
            options.uri.as_deref(),
        )),
        (None, None) => None,
    };
    let default_method = if body_bytes.is_some() { "POST" } else { "GET" };
    let http_method = options.http_method.as_deref().unwrap_or(default_method);
    let path = options.path.as_str();
    let granted = words(options.scopes.as_deref());
    let baseline = words(options.required_scopes.as_deref());

    println!("rules: {file}: {}", summary(&rules));
    println!("request: {http_method} {path}");
    let body: Option<RpcBody> = match body_bytes.as_deref().map(inspect) {
        None => None,
        Some(Ok(body)) => Some(body),
        Some(Err(error)) => {
            println!("answer: 400 invalid_request: {error}");
            return 0;
        }
    };
    let request = RequestFacts {
        http_method,
        path,
        body: body.as_ref(),
    };
    let requirement = match rules.requirement(&request) {
        Ok(requirement) => requirement,
        Err(error) => {
            print_answer(&Err(error));
            return 0;
        }
    };
    print_messages(&requirement);
    let required = requirement.scopes(&baseline);
    println!("required: {}", list(&required));
    println!("granted: {}", list(&granted));
    let outcome = requirement.check(&granted, &baseline);
    if let Err(AuthzError::InsufficientScope { missing, .. }) = &outcome {
        println!("missing: {}", list(missing));
    } else {
        println!("missing: (none)");
    }
    print_answer(&outcome.map(|grant| grant.rules));
    if !requirement.is_denied() {
        let scope = if required.is_empty() {
            String::new()
        } else {
            format!(", scope=\"{}\"", required.join(" "))
        };
        println!(
            "without a token: 401 WWW-Authenticate: Bearer resource_metadata=\"<metadata URL>\"{scope}"
        );
    }
    0
}

/// `explain --list`: which entries of a saved list answer a client with `--scopes` would see,
/// asked of the same code the gate filters with (README "Scope-aware lists").
fn explain_list(rules: &RuleSet, file: &str, answer: &str, options: &ExplainOptions) -> i32 {
    let text = match std::fs::read(answer) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read {answer}: {e}");
            return 1;
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(value) => value,
        Err(e) => {
            eprintln!("error: {answer} is not JSON: {e}");
            return 1;
        }
    };
    let result = value.get("result").unwrap_or(&value);
    let Some((kind, entries)) = ListKind::ALL.iter().find_map(|kind| {
        result
            .get(kind.member())
            .and_then(serde_json::Value::as_array)
            .map(|entries| (*kind, entries))
    }) else {
        eprintln!(
            "error: {answer} holds no \"tools\", \"prompts\", \"resources\" or \"resourceTemplates\" array"
        );
        return 1;
    };
    let path = options.path.as_str();
    let granted = words(options.scopes.as_deref());
    let baseline = words(options.required_scopes.as_deref());
    let policy = EntryPolicy::new(rules, "POST", path, &granted, &baseline);
    println!("rules: {file}: {}", summary(rules));
    println!("list: {} ({} entries)", kind.method(), entries.len());
    println!("granted: {}", list(&granted));
    let mut visible = 0;
    for entry in entries {
        let key = entry.get(kind.key()).and_then(serde_json::Value::as_str);
        let shown = key.is_some_and(|key| policy.allows(kind, key));
        visible += usize::from(shown);
        let label = if shown { "visible" } else { "hidden " };
        match key {
            Some(key) => println!("{label} {key}"),
            None => println!("{label} (an entry without \"{}\")", kind.key()),
        }
    }
    println!(
        "a client with these scopes sees {visible} of {}",
        entries.len()
    );
    0
}

fn list(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "(none)".to_owned()
    } else {
        scopes.join(" ")
    }
}

fn print_messages(requirement: &Requirement) {
    for (index, message) in requirement.messages().iter().enumerate() {
        let mut subject = match &message.rpc_method {
            Some(method) => format!("{method:?}"),
            None => match message.decision {
                Decision::Response => "JSON-RPC response".to_owned(),
                Decision::Rule { .. } | Decision::Authenticated | Decision::Denied => {
                    "request without JSON-RPC body".to_owned()
                }
            },
        };
        if let Some(name) = &message.rpc_name {
            subject.push_str(&format!(" name={name:?}"));
        }
        if let Some(uri) = &message.rpc_uri {
            subject.push_str(&format!(" uri={uri:?}"));
        }
        let decision = match &message.decision {
            Decision::Rule {
                rule,
                index,
                scopes,
            } => format!("rules[{index}] {rule:?} requires {}", list(scopes)),
            Decision::Response => "responses need only the baseline scopes".to_owned(),
            Decision::Authenticated => {
                "no rule matched; default authenticated: baseline scopes only".to_owned()
            }
            Decision::Denied => "no rule matched; default deny".to_owned(),
        };
        println!("message {}: {subject} -> {decision}", index + 1);
    }
}

fn print_answer(outcome: &Result<Vec<String>, AuthzError>) {
    match outcome {
        Ok(rules) if rules.is_empty() => println!("answer: 200 forwarded to the origin"),
        Ok(rules) => println!(
            "answer: 200 forwarded to the origin (rules: {})",
            rules.join(", ")
        ),
        Err(error @ AuthzError::BadTemplateValue { .. }) => {
            println!("answer: 400 invalid_request: {error}");
        }
        Err(error @ AuthzError::NoRuleMatched { .. }) => {
            println!("answer: 403 access_denied (no challenge): {error}");
        }
        Err(error @ AuthzError::InsufficientScope { required, .. }) => {
            println!("answer: 403 insufficient_scope");
            println!(
                "WWW-Authenticate: Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"<metadata URL>\", error_description=\"{}\"",
                required.join(" "),
                error.description()
            );
        }
    }
}

/// Where `put` writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Local,
    Remote,
}

fn put(args: &PutArgs) -> i32 {
    let file = args.file.as_str();
    // Local unless asked otherwise: a slip never writes production.
    let target = if args.remote {
        Target::Remote
    } else {
        Target::Local
    };
    let persist_to = args.persist_to.as_deref();
    // Validate first; wrangler is never called for an invalid document.
    let rules = match load(file) {
        Ok(rules) => rules,
        Err(code) => return code,
    };
    println!("{file}: {}", summary(&rules));
    let mut command = Command::new("npx");
    command.args(["wrangler", "kv", "key", "put", "rules", "--path", file]);
    command.args(["--binding", "GATE_KV"]);
    command.arg(match target {
        Target::Local => "--local",
        Target::Remote => "--remote",
    });
    if let Some(dir) = persist_to {
        command.args(["--persist-to", dir]);
    }
    match command.status() {
        Ok(status) if status.success() => {
            println!(
                "written to KV key `rules` ({})",
                match target {
                    Target::Local => "local",
                    Target::Remote => "remote",
                }
            );
            0
        }
        Ok(status) => {
            eprintln!("error: wrangler kv key put failed ({status})");
            status.code().filter(|code| *code != 0).unwrap_or(1)
        }
        Err(error) => {
            eprintln!("error: cannot run npx wrangler: {error}");
            1
        }
    }
}
