//! The scope grant law (README "Scope rules"): table tests and property tests.

use mcp_gate::rules::covers;
use proptest::prelude::*;

#[test]
fn table() {
    // (granted, required, allow_global_wildcard, covered)
    let cases: &[(&str, &str, bool, bool)] = &[
        ("mcp:tools:weather", "mcp:tools:weather", false, true),
        ("mcp:tools:*", "mcp:tools:weather", false, true),
        ("mcp:tools:*", "mcp:tools:calendar:read", false, true),
        ("mcp:tools:*", "mcp:toolsmith", false, false),
        ("mcp:tools:*", "mcp:tools", false, false),
        ("mcp:tools:*", "mcp:tools:", false, true),
        ("mcp:tools:*", "mcp:tools:*", false, true),
        ("mcp:*", "mcp:tools:calendar:read", false, true),
        (
            "mcp:tools:calendar:*",
            "mcp:tools:calendar:read",
            false,
            true,
        ),
        ("mcp:tools:calendar:*", "mcp:tools:weather", false, false),
        (
            "mcp:tools:calendar:read",
            "mcp:tools:calendar:write",
            false,
            false,
        ),
        (
            "mcp:tools:calendar:read",
            "mcp:tools:calendar",
            false,
            false,
        ),
        // `*` not after `:` is no wildcard.
        ("mcp:tools*", "mcp:toolsmith", false, false),
        ("mcp:tools*", "mcp:tools:x", false, false),
        ("mcp:*:read", "mcp:calendar:read", false, false),
        ("mcp:*:read", "mcp:*:read", false, true),
        // Lone `*`.
        ("*", "mcp:tools:weather", false, false),
        ("*", "mcp:tools:weather", true, true),
        ("*", "anything", true, true),
        ("*", "*", false, false),
        // Case-sensitive.
        ("MCP:tools:*", "mcp:tools:weather", false, false),
        ("mcp:tools:weather", "mcp:tools:Weather", false, false),
        ("mcp:Tools:*", "mcp:tools:x", true, false),
        // Empty granted scope covers nothing but itself.
        ("", "mcp:tools:x", true, false),
        (":*", ":x", false, true),
    ];
    for (granted, required, allow, expected) in cases {
        assert_eq!(
            covers(granted, required, *allow),
            *expected,
            "covers({granted:?}, {required:?}, {allow})"
        );
    }
}

/// Scope-like strings: short segments of letters joined by `:`.
fn scope() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-cA-C_-]{0,3}", 1..5).prop_map(|segments| segments.join(":"))
}

/// Any printable-ish string, including `*` and `:` in odd places.
fn anything() -> impl Strategy<Value = String> {
    "[a-b:*A]{0,8}"
}

proptest! {
    #[test]
    fn every_scope_covers_itself(required in anything(), allow in any::<bool>()) {
        prop_assume!(required != "*");
        prop_assert!(covers(&required, &required, allow));
    }

    #[test]
    fn a_wildcard_never_covers_outside_its_prefix(
        prefix in scope(), required in anything(), allow in any::<bool>()
    ) {
        let granted = format!("{prefix}:*");
        if covers(&granted, &required, allow) {
            let parent = format!("{prefix}:");
            prop_assert!(required.starts_with(&parent));
        }
        // Never the bare parent.
        prop_assert!(!covers(&granted, &prefix, allow));
    }

    #[test]
    fn a_wildcard_covers_everything_under_it(
        prefix in scope(), rest in anything(), allow in any::<bool>()
    ) {
        let granted = format!("{prefix}:*");
        let required = format!("{prefix}:{rest}");
        prop_assert!(covers(&granted, &required, allow));
    }

    #[test]
    fn the_lone_wildcard_needs_the_document_switch(required in anything()) {
        prop_assert!(covers("*", &required, true));
        prop_assert!(!covers("*", &required, false));
    }

    #[test]
    fn coverage_by_a_wildcard_implies_coverage_by_the_lone_one_when_allowed(
        granted in anything(), required in anything(), allow in any::<bool>()
    ) {
        if covers(&granted, &required, allow) {
            prop_assert!(covers("*", &required, true));
        }
    }

    #[test]
    fn coverage_is_exact_or_by_colon_wildcard(
        granted in anything(), required in anything(), allow in any::<bool>()
    ) {
        if covers(&granted, &required, allow) && granted != "*" {
            let by_wildcard = granted
                .strip_suffix('*')
                .is_some_and(|p| p.ends_with(':') && required.starts_with(p));
            prop_assert!(granted == required || by_wildcard);
        }
    }

    #[test]
    fn wider_wildcards_cover_what_narrower_ones_cover(
        outer in scope(), inner in scope(), required in anything(), allow in any::<bool>()
    ) {
        // `outer:*` covers `outer:inner:*`, so it must also cover what that one covers.
        let narrow = format!("{outer}:{inner}:*");
        let wide = format!("{outer}:*");
        if covers(&narrow, &required, allow) {
            prop_assert!(covers(&wide, &required, allow));
        }
    }

    #[test]
    fn matching_is_case_sensitive(required in "[a-z]{1,4}(:[a-z]{1,4}){0,3}") {
        let upper = required.to_uppercase();
        prop_assert!(!covers(&upper, &required, false));
        let wildcard = format!("{upper}:*");
        let below = format!("{required}:x");
        prop_assert!(!covers(&wildcard, &below, false));
    }
}
