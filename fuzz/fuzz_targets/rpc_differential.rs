//! Differential: whatever `rpc::inspect` accepts, lenient readers of the same bytes must see the
//! same messages (SPEC §4a: the gate and the origin must see the same request).
//!
//! Readers: plain `serde_json::Value` (no strict checks), and two Go-like readers that look
//! member names up case-insensitively under Unicode simple case folding (Go's
//! `bytes.EqualFold`: `ſ` matches `s`, KELVIN SIGN matches `k`), one taking the first matching
//! member and one the last (Go's encoding/json). Each must report, message by message, the
//! method, `params.name`, `params.uri` and the `completion/complete` reference that
//! `RpcBody::messages()` / `calls()` report. A refused body has nothing to check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_gate::rpc::{self, RpcMessage};
use mcp_gate_fuzz::{fold_self_check, read_body, Lenient, Pick, Reading};

fuzz_target!(
    init: {
        fold_self_check();
    },
    |data: &[u8]| {
    let Ok(body) = rpc::inspect(data) else {
        return;
    };
    let gate: Vec<Reading> = body
        .messages()
        .iter()
        .map(|message| match message {
            RpcMessage::Call(call) => Reading::Call {
                method: call.method.clone(),
                name: call.name.clone(),
                uri: call.uri.clone(),
            },
            RpcMessage::Response => Reading::NoMethod,
        })
        .collect();
    let gate_calls: Vec<_> = body.calls().collect();
    assert_eq!(
        gate_calls.len(),
        gate.iter().filter(|r| matches!(r, Reading::Call { .. })).count()
    );

    let plain: serde_json::Value = serde_json::from_slice(data).unwrap_or_else(|e| {
        panic!(
            "the gate accepted a body serde_json::Value refuses ({e}): {:?}",
            String::from_utf8_lossy(data)
        )
    });
    let multi: Lenient = serde_json::from_slice(data).unwrap_or_else(|e| {
        panic!(
            "the gate accepted a body the lenient reader refuses ({e}): {:?}",
            String::from_utf8_lossy(data)
        )
    });
    let readers = [
        ("serde_json::Value", Pick::Exact, Lenient::from(&plain)),
        ("case-insensitive first member", Pick::FoldFirst, multi.clone()),
        ("case-insensitive last member (Go)", Pick::FoldLast, multi),
    ];
    for (label, pick, value) in &readers {
        let (batch, seen) = read_body(value, *pick);
        assert_eq!(batch, body.is_batch(), "{label}: batch or not");
        if seen != gate {
            panic!(
                "{label} reads the body differently from the gate\n  body:   {:?}\n  gate:   {gate:?}\n  reader: {seen:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
});
