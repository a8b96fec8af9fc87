//! The four MCP list methods whose results the gate filters (README "Scope-aware lists").

/// One of the paginated MCP list results: which request asks for it, which result member holds
/// its entries, which entry member names an entry, and which call would use an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `tools/list` → `result.tools`; an entry is named by `name`, used by `tools/call`.
    Tools,
    /// `prompts/list` → `result.prompts`; an entry is named by `name`, used by `prompts/get`.
    Prompts,
    /// `resources/list` → `result.resources`; an entry is named by `uri`, used by
    /// `resources/read`.
    Resources,
    /// `resources/templates/list` → `result.resourceTemplates`; an entry is named by
    /// `uriTemplate`, and kept when `resources/read` of that template string would be allowed.
    ResourceTemplates,
}

impl ListKind {
    /// Every kind, in the order the result members are looked for on a stream whose request
    /// ids are unknown.
    pub const ALL: [ListKind; 4] = [
        ListKind::Tools,
        ListKind::Prompts,
        ListKind::Resources,
        ListKind::ResourceTemplates,
    ];

    /// The kind asked for by the JSON-RPC request `method` (`tools/list`, …); `None` for any
    /// other method.
    pub fn from_method(method: &str) -> Option<ListKind> {
        ListKind::ALL
            .into_iter()
            .find(|kind| kind.method() == method)
    }

    /// The kind whose entries a result member named `member` holds (`tools`, `prompts`,
    /// `resources`, `resourceTemplates`); `None` for any other member.
    pub fn from_member(member: &str) -> Option<ListKind> {
        ListKind::ALL
            .into_iter()
            .find(|kind| kind.member() == member)
    }

    /// The JSON-RPC method of the list request.
    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Prompts => "prompts/list",
            ListKind::Resources => "resources/list",
            ListKind::ResourceTemplates => "resources/templates/list",
        }
    }

    /// The member of the result that holds the entries.
    pub fn member(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::ResourceTemplates => "resourceTemplates",
        }
    }

    /// The member of an entry that the using call names it by.
    pub fn key(self) -> &'static str {
        match self {
            ListKind::Tools | ListKind::Prompts => "name",
            ListKind::Resources => "uri",
            ListKind::ResourceTemplates => "uriTemplate",
        }
    }

    /// The JSON-RPC method of the call that would use an entry.
    pub fn use_method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/call",
            ListKind::Prompts => "prompts/get",
            ListKind::Resources | ListKind::ResourceTemplates => "resources/read",
        }
    }

    /// Whether the entry key is matched by the rules as a `name` (tools, prompts) rather than
    /// a `uri` (resources, templates).
    pub(crate) fn keyed_by_name(self) -> bool {
        matches!(self, ListKind::Tools | ListKind::Prompts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_members_round_trip() {
        for kind in ListKind::ALL {
            assert_eq!(ListKind::from_method(kind.method()), Some(kind));
            assert_eq!(ListKind::from_member(kind.member()), Some(kind));
        }
        assert_eq!(
            ListKind::from_method("resources/templates/list"),
            Some(ListKind::ResourceTemplates)
        );
        assert_eq!(
            ListKind::from_member("resourceTemplates"),
            Some(ListKind::ResourceTemplates)
        );
    }

    #[test]
    fn other_names_are_no_kind() {
        for method in ["tools/call", "Tools/list", "tools/list ", "roots/list", ""] {
            assert_eq!(ListKind::from_method(method), None, "{method:?}");
        }
        for member in ["Tools", "tool", "resource_templates", "nextCursor", ""] {
            assert_eq!(ListKind::from_member(member), None, "{member:?}");
        }
    }
}
