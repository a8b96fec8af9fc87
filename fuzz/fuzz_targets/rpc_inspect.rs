//! `rpc::inspect` and `json_strict::check` never panic, agree with each other, and what they
//! accept is strict JSON as SPEC §4a.5 says: no object holds two member names equal under
//! Unicode simple case folding (`name`/`Name`, `params`/`paramſ`, `kind`/`\u212Aind`) and no
//! member name holds a control character.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_gate::json_strict::{self, StrictJsonError};
use mcp_gate::rpc::{self, RpcError, RpcMessage};
use mcp_gate_fuzz::{eq_fold, fold_self_check, Lenient};

/// The first §4a.5 violation in `value`, if any.
fn violation(value: &Lenient) -> Option<String> {
    match value {
        Lenient::Array(items) => items.iter().find_map(violation),
        Lenient::Object(members) => {
            for (i, (name, _)) in members.iter().enumerate() {
                if name.chars().any(char::is_control) {
                    return Some(format!("member name {name:?} holds a control character"));
                }
                if let Some((other, _)) =
                    members[..i].iter().find(|(other, _)| eq_fold(other, name))
                {
                    return Some(format!(
                        "member names {other:?} and {name:?} are equal under simple case folding"
                    ));
                }
            }
            members.iter().find_map(|(_, v)| violation(v))
        }
        _ => None,
    }
}

fuzz_target!(
    init: {
        fold_self_check();
    },
    |data: &[u8]| {
    let strict = json_strict::check(data);
    if let Err(error) = &strict {
        let _ = error.to_string();
    }
    if strict.is_ok() {
        let value: Lenient = serde_json::from_slice(data)
            .unwrap_or_else(|e| panic!("strict JSON that serde_json refuses ({e})"));
        if let Some(why) = violation(&value) {
            panic!(
                "json_strict::check accepted a body that SPEC §4a.5 refuses: {why}\n  body: {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
    match rpc::inspect(data) {
        Ok(body) => {
            assert_eq!(strict, Ok(()), "inspect accepted what the strict check refuses");
            assert!(!body.messages().is_empty());
            assert!(body.is_batch() || body.messages().len() == 1);
            let calls = body.calls().count();
            assert_eq!(
                calls,
                body.messages()
                    .iter()
                    .filter(|m| matches!(m, RpcMessage::Call(_)))
                    .count()
            );
            let (methods, targets) = body.summary();
            assert_eq!(methods.is_some(), calls > 0);
            if targets.is_some() {
                assert!(methods.is_some());
            }
            for call in body.calls() {
                // A call has a name or a URI, never both.
                assert!(call.name.is_none() || call.uri.is_none());
            }
        }
        Err(error) => {
            let _ = (error.reason(), error.description());
            match strict {
                Err(StrictJsonError::Syntax(_)) => assert_eq!(error, RpcError::NotJson),
                Err(StrictJsonError::DuplicateMember) => {
                    assert_eq!(error, RpcError::DuplicateMember)
                }
                Err(StrictJsonError::ControlInName) => assert_eq!(error, RpcError::ControlInName),
                Err(StrictJsonError::TooDeep) => assert_eq!(error, RpcError::TooDeep),
                Ok(()) => {}
            }
        }
    }
});
