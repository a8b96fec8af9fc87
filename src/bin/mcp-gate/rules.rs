//! `mcp-gate rules …`: validate a rules document, explain the decision for a request, and write
//! a document to Workers KV only once it is valid.

use mcp_gate::lists::{EntryPolicy, ListKind};
use mcp_gate::rpc::{inspect, RpcBody};
use mcp_gate::rules::{AuthzError, Decision, RequestFacts, Requirement, RuleSet};
use std::io::Read;
use std::process::Command;

const USAGE: &str = "usage:
  mcp-gate rules check FILE
  mcp-gate rules explain FILE [--body FILE|-] [--method M [--name N] [--uri U]]
                              [--http-method M] [--path P] [--scopes \"a b\"]
                              [--required-scopes \"x y\"]
  mcp-gate rules explain FILE --list ANSWER [--scopes \"a b\"] [--required-scopes \"x y\"]
                              [--path P]
  mcp-gate rules put FILE [--local | --remote] [--persist-to DIR]

check    validate FILE; exit 0 when valid, 1 otherwise
explain  show which rule decides each message, the scopes needed and missing, and the answer
         the gate would give (--body: a JSON-RPC POST body, - for stdin; --method: a
         one-message body built from --method/--name/--uri; neither: a body-less request,
         GET by default); --scopes: the token's granted scopes; --required-scopes: the
         gate's REQUIRED_SCOPES; the path defaults to /mcp; --list: a saved answer to
         tools/list, prompts/list, resources/list or resources/templates/list (the JSON-RPC
         response or its result), printing which entries a client with --scopes would see
put      validate FILE, then write it to the KV key `rules` of the GATE_KV binding with
         `npx wrangler kv key put` (local by default); an invalid file is never written";

/// Exit codes: 0 success, 1 invalid document or failed action, 2 usage error.
pub fn run(args: &[String]) -> i32 {
    match args.split_first() {
        Some((command, rest)) => match command.as_str() {
            "check" => check(rest),
            "explain" => explain(rest),
            "put" => put(rest),
            "help" | "--help" | "-h" => {
                println!("{USAGE}");
                0
            }
            _ => usage_error(&format!("unknown rules command {command:?}")),
        },
        None => usage_error("missing rules command"),
    }
}

fn usage_error(problem: &str) -> i32 {
    eprintln!("error: {problem}\n{USAGE}");
    2
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

fn check(args: &[String]) -> i32 {
    let [path] = args else {
        return usage_error("rules check takes exactly one FILE");
    };
    match load(path) {
        Ok(rules) => {
            println!("{}", summary(&rules));
            0
        }
        Err(code) => code,
    }
}

/// Options of `rules explain`.
#[derive(Default)]
struct ExplainOptions {
    file: Option<String>,
    body: Option<String>,
    method: Option<String>,
    name: Option<String>,
    uri: Option<String>,
    http_method: Option<String>,
    path: Option<String>,
    scopes: Option<String>,
    required_scopes: Option<String>,
    list: Option<String>,
}

fn parse_explain(args: &[String]) -> Result<ExplainOptions, String> {
    let mut options = ExplainOptions::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--body" => &mut options.body,
            "--method" => &mut options.method,
            "--name" => &mut options.name,
            "--uri" => &mut options.uri,
            "--http-method" => &mut options.http_method,
            "--path" => &mut options.path,
            "--scopes" => &mut options.scopes,
            "--required-scopes" => &mut options.required_scopes,
            "--list" => &mut options.list,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => {
                if options.file.is_some() {
                    return Err("rules explain takes exactly one FILE".to_owned());
                }
                options.file = Some(file.to_owned());
                continue;
            }
        };
        let Some(value) = args.next() else {
            return Err(format!("{arg} needs a value"));
        };
        if slot.is_some() {
            return Err(format!("{arg} given twice"));
        }
        *slot = Some(value.clone());
    }
    if options.list.is_some() && (options.body.is_some() || options.method.is_some()) {
        return Err("--list explains a list answer: give no --body or --method with it".to_owned());
    }
    if options.body.is_some() && options.method.is_some() {
        return Err("give either --body or --method, not both".to_owned());
    }
    if options.method.is_none() && (options.name.is_some() || options.uri.is_some()) {
        return Err("--name and --uri need --method".to_owned());
    }
    Ok(options)
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

fn explain(args: &[String]) -> i32 {
    let options = match parse_explain(args) {
        Ok(options) => options,
        Err(problem) => return usage_error(&problem),
    };
    let Some(file) = options.file.as_deref() else {
        return usage_error("rules explain needs a FILE");
    };
    let rules = match load(file) {
        Ok(rules) => rules,
        Err(code) => return code,
    };
    if let Some(answer) = options.list.as_deref() {
        return explain_list(&rules, file, answer, &options);
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
    let path = options.path.as_deref().unwrap_or("/mcp");
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
    let path = options.path.as_deref().unwrap_or("/mcp");
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

fn put(args: &[String]) -> i32 {
    let mut file: Option<&str> = None;
    let mut target: Option<Target> = None;
    let mut persist_to: Option<&str> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--local" | "--remote" => {
                let chosen = if arg == "--local" {
                    Target::Local
                } else {
                    Target::Remote
                };
                if target.is_some_and(|t| t != chosen) {
                    return usage_error("give --local or --remote, not both");
                }
                target = Some(chosen);
            }
            "--persist-to" => match args.next() {
                Some(dir) => persist_to = Some(dir),
                None => return usage_error("--persist-to needs a directory"),
            },
            flag if flag.starts_with("--") => {
                return usage_error(&format!("unknown option {flag}"))
            }
            path => {
                if file.replace(path).is_some() {
                    return usage_error("rules put takes exactly one FILE");
                }
            }
        }
    }
    let Some(file) = file else {
        return usage_error("rules put needs a FILE");
    };
    // Local unless asked otherwise: a slip never writes production.
    let target = target.unwrap_or(Target::Local);
    if target == Target::Remote && persist_to.is_some() {
        return usage_error("--persist-to applies to --local only");
    }
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
