//! The scope grant law of README "Scope rules" (hierarchical wildcards).

/// Whether the granted scope `granted` covers the required scope `required`.
///
/// - A lone `*` covers every scope when the rules document sets `allow_global_wildcard`, and
///   nothing otherwise (not even a required `*`; rules never require one).
/// - Otherwise `granted` covers `required` when they are equal, or when `granted` ends in `:*`
///   and `required` starts with `granted` minus its final `*`: `mcp:tools:*` covers
///   `mcp:tools:weather` and `mcp:tools:calendar:read`, but not `mcp:toolsmith` (the wildcard
///   stops at a `:` boundary) nor `mcp:tools` (the bare parent).
/// - A `*` anywhere else (`mcp:tools*`, `mcp:*:read`) is no wildcard: only equality.
/// - Comparison is byte-wise, so case-sensitive.
pub fn covers(granted: &str, required: &str, allow_global_wildcard: bool) -> bool {
    if granted == "*" {
        return allow_global_wildcard;
    }
    if granted == required {
        return true;
    }
    match granted.strip_suffix('*') {
        Some(prefix) if prefix.ends_with(':') => required.starts_with(prefix),
        Some(_) | None => false,
    }
}

/// Whether any of the `granted` scopes covers `required`.
pub fn any_covers(granted: &[String], required: &str, allow_global_wildcard: bool) -> bool {
    granted
        .iter()
        .any(|scope| covers(scope, required, allow_global_wildcard))
}
