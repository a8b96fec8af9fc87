//! The `mcp-gate rules` command: check, explain, put; and the command line itself (clap's help
//! and usage errors) for every subcommand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-gate");

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("rules")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `mcp-gate ARGS`, without the `rules` prefix (and never in colour).
fn mcp_gate(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_valid_documents() {
    let output = run(&["check", &fixture("rules.example.json")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok: 19 rules, default=deny\n");
    let output = run(&["check", &fixture("rules.authenticated.json")]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        text(&output.stdout),
        "ok: 1 rules, default=authenticated, allow_global_wildcard=true\n"
    );
}

#[test]
fn check_rejects_each_invalid_kind_naming_field_or_line() {
    let cases: &[(&str, &str)] = &[
        (
            "rules.invalid-json.json",
            "line 6, column 3: trailing comma",
        ),
        (
            "rules.invalid-unknown-field.json",
            "line 7, column 16: unknown field `requires`",
        ),
        (
            "rules.invalid-unknown-match-field.json",
            "line 5, column 67: unknown field `tool`",
        ),
        (
            "rules.invalid-version.json",
            "version: unsupported rules document version 2",
        ),
        (
            "rules.invalid-default.json",
            "line 3, column 20: unknown variant `allow`",
        ),
        (
            "rules.invalid-duplicate-name.json",
            "rules[1] (\"tools\"): name: duplicate rule name (first used by rules[0])",
        ),
        (
            "rules.invalid-template.json",
            "rules[0] (\"resources\"): require[0]: unknown placeholder",
        ),
        (
            "rules.invalid-scope.json",
            "rules[0] (\"tools\"): require[0]: scopes are printable ASCII",
        ),
        (
            "rules.invalid-name-without-pattern.json",
            "rules[0] (\"tools\"): require[0]: {name} needs a \"name\" pattern",
        ),
        (
            "rules.invalid-empty-pattern.json",
            "rules[0] (\"tools\"): match.method: empty pattern",
        ),
    ];
    for (file, expected) in cases {
        let output = run(&["check", &fixture(file)]);
        assert_eq!(output.status.code(), Some(1), "{file}");
        assert!(output.stdout.is_empty(), "{file}");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("error: "), "{file}: {stderr}");
        assert!(stderr.contains(file), "{file}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{file}: {stderr} lacks {expected}"
        );
    }
}

#[test]
fn check_reports_unreadable_files_and_usage() {
    let output = run(&["check", "/nonexistent/rules.json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot read /nonexistent/rules.json"));
    assert_eq!(run(&["check"]).status.code(), Some(2));
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    assert!(help.contains("Usage: mcp-gate rules <COMMAND>"), "{help}");
    for command in ["check", "explain", "put"] {
        assert!(help.contains(&format!("\n  {command} ")), "{help}");
    }
}

/// Each subcommand prints its own help on stdout and exits 0.
#[test]
fn every_subcommand_has_help() {
    let cases: &[(&[&str], &str, &[&str])] = &[
        (
            &["--help"],
            "Usage: mcp-gate <COMMAND>",
            &["dev-keys", "token", "rules"],
        ),
        (
            &["help"],
            "Usage: mcp-gate <COMMAND>",
            &["dev-keys", "token", "rules"],
        ),
        (
            &["-h"],
            "Usage: mcp-gate <COMMAND>",
            &["dev-keys", "token", "rules"],
        ),
        (
            &["dev-keys", "--help"],
            "Usage: mcp-gate dev-keys [OPTIONS]",
            &["--dir <DIR>"],
        ),
        (
            &["token", "--help"],
            "Usage: mcp-gate token [OPTIONS] --iss <ISS> --aud <AUD>",
            &[
                "--alg <ALG>",
                "RS256, ES256, EdDSA",
                "--scope",
                "--ttl <SECONDS>",
            ],
        ),
        (
            &["rules", "help"],
            "Usage: mcp-gate rules <COMMAND>",
            &["explain"],
        ),
        (
            &["rules", "check", "--help"],
            "Usage: mcp-gate rules check <FILE>",
            &[],
        ),
        (
            &["rules", "explain", "--help"],
            "Usage: mcp-gate rules explain [OPTIONS] <FILE>",
            &[
                "--body <FILE|->",
                "--method <M>",
                "--name <N>",
                "--uri <U>",
                "--http-method <M>",
                "--path <P>",
                "--scopes <SCOPES>",
                "--required-scopes <SCOPES>",
                "--list <ANSWER>",
            ],
        ),
        (
            &["rules", "help", "explain"],
            "Usage: mcp-gate rules explain [OPTIONS] <FILE>",
            &["--list <ANSWER>"],
        ),
        (
            &["rules", "put", "--help"],
            "Usage: mcp-gate rules put [OPTIONS] <FILE>",
            &["--local", "--remote", "--persist-to <DIR>"],
        ),
    ];
    for (args, usage, mentions) in cases {
        let output = mcp_gate(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(
            output.stderr.is_empty(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        let help = text(&output.stdout);
        assert!(help.contains(usage), "{args:?}: {help}");
        for mention in *mentions {
            assert!(help.contains(mention), "{args:?} lacks {mention}: {help}");
        }
    }
}

/// Usage errors (a missing or unknown command, an unknown option, a missing or invalid value)
/// exit 2 with clap's error on stderr, and do nothing.
#[test]
fn usage_errors_exit_2() {
    let dir = scratch("usage-errors");
    let dir_arg = dir.to_str().unwrap();
    let example = fixture("rules.example.json");
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["--bogus"],
        vec!["dev-keys", "--dir", dir_arg, "--bogus"],
        vec!["dev-keys", "--dir"],
        vec![
            "token", "--dir", dir_arg, "--iss", "i", "--aud", "a", "--bogus",
        ],
        vec!["token", "--dir", dir_arg, "--iss", "i"],
        vec![
            "token", "--dir", dir_arg, "--iss", "i", "--aud", "a", "--alg", "HS256",
        ],
        vec![
            "token", "--dir", dir_arg, "--iss", "i", "--aud", "a", "--ttl", "soon",
        ],
        vec!["rules", "check", &example, "--bogus"],
        vec!["rules", "explain", &example, "--bogus"],
        vec![
            "rules", "explain", &example, "--scopes", "a", "--scopes", "b",
        ],
        vec!["rules", "put", &example, "--bogus"],
    ] {
        let output = mcp_gate(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            output.stdout.is_empty(),
            "{args:?}: {}",
            text(&output.stdout)
        );
        let stderr = text(&output.stderr);
        // clap's error, or the help when the command is missing.
        assert!(
            stderr.starts_with("error: ") || stderr.contains("Usage: mcp-gate"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!dir.join("keys").exists() && !dir.join("jwks.json").exists());
}

fn explain(args: &[&str]) -> String {
    let example = fixture("rules.example.json");
    let mut all = vec!["explain", example.as_str()];
    all.extend_from_slice(args);
    let output = run(&all);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn explain_insufficient_scope() {
    let out = explain(&[
        "--method",
        "tools/call",
        "--name",
        "calendar_delete",
        "--scopes",
        "mcp:tools:calendar:read",
        "--required-scopes",
        "mcp:base",
    ]);
    let expected = "request: POST /mcp
message 1: \"tools/call\" name=\"calendar_delete\" -> rules[10] \"any tool\" requires mcp:tools:calendar_delete
required: mcp:base mcp:tools:calendar_delete
granted: mcp:tools:calendar:read
missing: mcp:base mcp:tools:calendar_delete
answer: 403 insufficient_scope
WWW-Authenticate: Bearer error=\"insufficient_scope\", scope=\"mcp:base mcp:tools:calendar_delete\", resource_metadata=\"<metadata URL>\", error_description=\"tools/call calendar_delete needs scope mcp:base mcp:tools:calendar_delete\"
without a token: 401 WWW-Authenticate: Bearer resource_metadata=\"<metadata URL>\", scope=\"mcp:base mcp:tools:calendar_delete\"
";
    assert!(out.ends_with(expected), "{out}");
    assert!(out.starts_with("rules: "), "{out}");
}

#[test]
fn explain_allowed() {
    let out = explain(&[
        "--method",
        "tools/call",
        "--name",
        "calendar_get_events",
        "--scopes",
        "mcp:tools:*",
    ]);
    assert!(
        out.contains("-> rules[9] \"calendar reads\" requires mcp:tools:calendar:read\n"),
        "{out}"
    );
    assert!(out.contains("missing: (none)\n"), "{out}");
    assert!(
        out.contains("answer: 200 forwarded to the origin (rules: calendar reads)\n"),
        "{out}"
    );
}

#[test]
fn explain_access_denied() {
    let out = explain(&["--method", "tasks/list", "--scopes", "mcp:*"]);
    assert!(
        out.contains("message 1: \"tasks/list\" -> no rule matched; default deny\n"),
        "{out}"
    );
    assert!(
        out.contains("answer: 403 access_denied (no challenge): no rule allows tasks/list\n"),
        "{out}"
    );
    assert!(!out.contains("WWW-Authenticate"), "{out}");
}

#[test]
fn explain_bad_requests() {
    let out = explain(&["--method", "tools/call", "--name", "x:y"]);
    assert!(out.contains("answer: 400 invalid_request: the request's name cannot be used in a scope of rule 'any tool'"), "{out}");
    let out = explain(&["--method", "tools/call"]);
    assert!(
        out.contains("answer: 400 invalid_request: tools/call needs a string \"params.name\""),
        "{out}"
    );
}

#[test]
fn explain_resources_completions_and_body_less_requests() {
    let out = explain(&["--method", "resources/read", "--uri", "customer://acme/7"]);
    assert!(out.contains("uri=\"customer://acme/7\" -> rules[11] \"customer data\" requires mcp:resources:customer-data:read"), "{out}");
    let out = explain(&[
        "--method",
        "completion/complete",
        "--name",
        "summary",
        "--scopes",
        "mcp:prompts:*",
    ]);
    assert!(
        out.contains("-> rules[14] \"prompt completion\" requires mcp:prompts:summary"),
        "{out}"
    );
    assert!(out.contains("answer: 200"), "{out}");
    let out = explain(&[]);
    assert!(out.contains("request: GET /mcp\n"), "{out}");
    assert!(
        out.contains("request without JSON-RPC body -> rules[17] \"event stream\""),
        "{out}"
    );
    let out = explain(&["--http-method", "DELETE", "--path", "/other"]);
    assert!(out.contains("answer: 403 access_denied"), "{out}");
}

#[test]
fn explain_reads_a_body_from_a_file_and_stdin() {
    let dir = scratch("explain-body");
    let body = dir.join("batch.json");
    std::fs::write(
        &body,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calendar_get_events"}},
            {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"weather"}},
            {"jsonrpc":"2.0","id":"s","result":{}}]"#,
    )
    .unwrap();
    let out = explain(&[
        "--body",
        body.to_str().unwrap(),
        "--scopes",
        "mcp:tools:calendar:read",
    ]);
    assert!(
        out.contains("message 2: \"tools/call\" name=\"weather\" -> rules[10] \"any tool\""),
        "{out}"
    );
    assert!(
        out.contains("message 3: JSON-RPC response -> responses need only the baseline scopes"),
        "{out}"
    );
    assert!(out.contains("missing: mcp:tools:weather\n"), "{out}");
    assert!(
        out.contains("scope=\"mcp:tools:calendar:read mcp:tools:weather\""),
        "{out}"
    );

    let mut child = Command::new(BIN)
        .args([
            "rules",
            "explain",
            &fixture("rules.example.json"),
            "--body",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(br#"{"jsonrpc":"2.0","id":1,"method":"x","method":"y"}"#)
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let out = text(&output.stdout);
    assert!(
        out.contains("answer: 400 invalid_request: The request body repeats a member name"),
        "{out}"
    );
}

#[test]
fn explain_usage_errors() {
    let example = fixture("rules.example.json");
    for args in [
        vec!["explain"],
        vec!["explain", &example, "--name", "x"],
        vec!["explain", &example, "--body", "-", "--method", "ping"],
        vec!["explain", &example, "--scopes"],
        vec!["explain", &example, "--bogus", "x"],
        vec!["explain", &example, &example],
    ] {
        assert_eq!(run(&args).status.code(), Some(2), "{args:?}");
    }
    let output = run(&[
        "explain",
        &fixture("rules.invalid-version.json"),
        "--method",
        "ping",
    ]);
    assert_eq!(output.status.code(), Some(1));
}

/// A fresh directory under cargo's test scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rules-cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A directory holding a fake `npx` that records its arguments in `calls`.
#[cfg(unix)]
fn fake_npx(name: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch(name);
    let calls = dir.join("calls");
    let npx = dir.join("npx");
    std::fs::write(
        &npx,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&npx, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, calls)
}

#[cfg(unix)]
fn put(path_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["rules", "put"])
        .args(args)
        .env("PATH", path_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[cfg(unix)]
#[test]
fn put_writes_a_valid_document_with_wrangler() {
    let (dir, calls) = fake_npx("put-valid");
    let example = fixture("rules.example.json");
    let output = put(&dir, &[&example]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = put(&dir, &[&example, "--remote"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = put(
        &dir,
        &["--local", &example, "--persist-to", ".wrangler/state"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        format!(
            "wrangler kv key put rules --path {example} --binding GATE_KV --local\n\
             wrangler kv key put rules --path {example} --binding GATE_KV --remote\n\
             wrangler kv key put rules --path {example} --binding GATE_KV --local --persist-to .wrangler/state\n"
        )
    );
}

#[cfg(unix)]
#[test]
fn put_refuses_invalid_documents_before_calling_wrangler() {
    let (dir, calls) = fake_npx("put-invalid");
    for file in [
        "rules.invalid-unknown-field.json",
        "rules.invalid-template.json",
        "rules.invalid-json.json",
    ] {
        for target in ["--local", "--remote"] {
            let output = put(&dir, &[&fixture(file), target]);
            assert_eq!(output.status.code(), Some(1), "{file}");
            assert!(
                text(&output.stderr).contains(file),
                "{}",
                text(&output.stderr)
            );
        }
    }
    assert!(
        !calls.exists(),
        "wrangler was called for an invalid document"
    );
    // With no npx at all, an invalid document is still refused by validation first.
    let empty = scratch("put-no-npx");
    let output = put(&empty, &[&fixture("rules.invalid-version.json")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("unsupported rules document version"));
    // And a valid one reports that npx could not run.
    let output = put(&empty, &[&fixture("rules.example.json")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot run npx wrangler"));
}

#[cfg(unix)]
#[test]
fn put_usage_errors_never_call_wrangler() {
    let (dir, calls) = fake_npx("put-usage");
    let example = fixture("rules.example.json");
    for args in [
        vec![],
        vec![example.as_str(), "--local", "--remote"],
        vec![example.as_str(), "--remote", "--persist-to", "x"],
        vec![example.as_str(), "--persist-to"],
        vec![example.as_str(), example.as_str()],
        vec![example.as_str(), "--preview"],
    ] {
        assert_eq!(put(&dir, &args).status.code(), Some(2), "{args:?}");
    }
    assert!(!calls.exists());
}

#[cfg(unix)]
#[test]
fn put_passes_on_wrangler_failure() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("put-fails");
    let npx = dir.join("npx");
    std::fs::write(&npx, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&npx, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = put(&dir, &[&fixture("rules.example.json")]);
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("wrangler kv key put failed"));
}

#[test]
fn explain_list_shows_what_a_client_with_these_scopes_sees() {
    let out = explain(&[
        "--list",
        &fixture("tools-list.example.json"),
        "--scopes",
        "mcp:tools:calendar:read",
    ]);
    assert!(out.contains("list: tools/list (5 entries)\n"), "{out}");
    assert!(out.contains("visible calendar_get_events\n"), "{out}");
    for hidden in ["calendar_create_event", "echo", "admin_reset"] {
        assert!(out.contains(&format!("hidden  {hidden}\n")), "{out}");
    }
    assert!(
        out.contains("hidden  (an entry without \"name\")\n"),
        "{out}"
    );
    assert!(
        out.ends_with("a client with these scopes sees 1 of 5\n"),
        "{out}"
    );
    let wide = explain(&[
        "--list",
        &fixture("tools-list.example.json"),
        "--scopes",
        "mcp:tools:*",
    ]);
    assert!(
        wide.ends_with("a client with these scopes sees 4 of 5\n"),
        "{wide}"
    );
    // --list explains an answer, not a request.
    let output = run(&[
        "explain",
        &fixture("rules.example.json"),
        "--list",
        &fixture("tools-list.example.json"),
        "--method",
        "ping",
    ]);
    assert_eq!(output.status.code(), Some(2));
}
