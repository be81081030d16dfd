//! What one GraphQL request may ask, checked before anything runs.
//!
//! The schema enforces depth, complexity (list fields scaled by their `first`), recursive
//! depth and directives per field during validation (async-graphql's own limits). This
//! module adds what async-graphql does not count: the document's size, aliases, and root
//! fields (tighter for mutations). Fragments are expanded wherever they are spread, each
//! time, so reused fragments count as often as they are used; a fragment's counts are
//! computed once, so a document cannot make the counting itself expensive.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use serde::Deserialize;

/// `[limits]`. The defaults suit a public deployment; introspection and suggestions are on
/// by default for the playground, and off in the production example configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Deepest selection, in fields (introspection counts: GraphiQL's schema query needs 13).
    pub max_depth: usize,
    /// Highest cost: one per field, list fields times their `first`.
    pub max_complexity: usize,
    /// Deepest nesting of selection sets, fragments included (guards the parser's stack).
    pub max_recursive_depth: usize,
    /// Most directives on one field.
    pub max_directives_per_field: usize,
    /// Most aliased fields in one operation.
    pub max_aliases: usize,
    /// Most root fields in a query.
    pub max_root_fields: usize,
    /// Most root fields in a mutation: each may write to both systems.
    pub max_mutation_root_fields: usize,
    /// Largest document, in bytes.
    pub max_query_bytes: usize,
    /// Most operations in one batched request (a JSON array of requests).
    pub max_batch: usize,
    /// Whether `__schema` and `__type` answer.
    pub introspection: bool,
    /// Whether errors suggest field names ("Did you mean …").
    pub suggestions: bool,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_complexity: 20_000,
            max_recursive_depth: 32,
            max_directives_per_field: 5,
            max_aliases: 20,
            max_root_fields: 10,
            max_mutation_root_fields: 5,
            max_query_bytes: 32 * 1024,
            max_batch: 10,
            introspection: true,
            suggestions: true,
        }
    }
}

/// A limit a document goes over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("the document is {0} bytes; at most {1} are accepted")]
    Size(usize, usize),
    #[error("the operation has {0} aliases; at most {1} are accepted")]
    Aliases(usize, usize),
    #[error("the operation has {0} root fields; at most {1} are accepted")]
    RootFields(usize, usize),
    #[error("the batch holds {0} operations; at most {1} are accepted")]
    Batch(usize, usize),
}

/// Checks the document's size before it is parsed.
pub fn check_size(query: &str, cfg: &LimitsConfig) -> Result<(), LimitExceeded> {
    if query.len() > cfg.max_query_bytes {
        return Err(LimitExceeded::Size(query.len(), cfg.max_query_bytes));
    }
    Ok(())
}

/// Checks aliases and root fields of the operation the request runs (every operation when
/// it names none and the document has several: the schema then refuses it anyway).
pub fn check_document(
    doc: &ExecutableDocument,
    operation: Option<&str>,
    cfg: &LimitsConfig,
) -> Result<(), LimitExceeded> {
    let mut counter = Counter {
        doc,
        aliases: HashMap::new(),
        roots: HashMap::new(),
        path: Vec::new(),
    };
    let ops: Vec<_> = match &doc.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => match operation {
            Some(name) => ops.get(name).into_iter().collect(),
            None => ops.values().collect(),
        },
    };
    for op in ops {
        let set = &op.node.selection_set.node;
        let aliases = counter.aliases_in(set);
        if aliases > cfg.max_aliases {
            return Err(LimitExceeded::Aliases(aliases, cfg.max_aliases));
        }
        let max_roots = match op.node.ty {
            OperationType::Mutation => cfg.max_mutation_root_fields,
            _ => cfg.max_root_fields,
        };
        let roots = counter.roots_in(set);
        if roots > max_roots {
            return Err(LimitExceeded::RootFields(roots, max_roots));
        }
    }
    Ok(())
}

/// Counts over a document, each fragment once.
struct Counter<'a> {
    doc: &'a ExecutableDocument,
    aliases: HashMap<&'a str, usize>,
    roots: HashMap<&'a str, usize>,
    /// Fragments being counted: a cycle counts as nothing here (validation refuses it).
    path: Vec<&'a str>,
}

impl<'a> Counter<'a> {
    fn aliases_in(&mut self, set: &'a SelectionSet) -> usize {
        set.items.iter().fold(0usize, |n, item| {
            n.saturating_add(match &item.node {
                Selection::Field(f) => usize::from(f.node.alias.is_some())
                    .saturating_add(self.aliases_in(&f.node.selection_set.node)),
                Selection::InlineFragment(i) => self.aliases_in(&i.node.selection_set.node),
                Selection::FragmentSpread(s) => self.fragment(&s.node.fragment_name.node, true),
            })
        })
    }

    fn roots_in(&mut self, set: &'a SelectionSet) -> usize {
        set.items.iter().fold(0usize, |n, item| {
            n.saturating_add(match &item.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(i) => self.roots_in(&i.node.selection_set.node),
                Selection::FragmentSpread(s) => self.fragment(&s.node.fragment_name.node, false),
            })
        })
    }

    /// A fragment's aliases (`aliases`) or top-level fields, memoised.
    fn fragment(&mut self, name: &'a str, aliases: bool) -> usize {
        let memo = if aliases { &self.aliases } else { &self.roots };
        if let Some(n) = memo.get(name) {
            return *n;
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return 0;
        };
        if self.path.contains(&name) {
            return 0;
        }
        self.path.push(name);
        let set = &fragment.node.selection_set.node;
        let n = if aliases {
            self.aliases_in(set)
        } else {
            self.roots_in(set)
        };
        self.path.pop();
        let memo = if aliases {
            &mut self.aliases
        } else {
            &mut self.roots
        };
        memo.insert(name, n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: &str, cfg: &LimitsConfig) -> Result<(), LimitExceeded> {
        let doc = async_graphql::parser::parse_query(q).expect("parses");
        check_document(&doc, None, cfg)
    }

    fn cfg(aliases: usize, roots: usize) -> LimitsConfig {
        LimitsConfig {
            max_aliases: aliases,
            max_root_fields: roots,
            max_mutation_root_fields: 1,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn reused_fragments_count_each_time_they_are_spread() {
        let q = "query { a: x { ...F } b: x { ...F } } fragment F on T { p: y q: y }";
        // 2 root aliases + 2 × 2 in the fragment.
        assert_eq!(check(q, &cfg(6, 10)), Ok(()));
        assert_eq!(check(q, &cfg(5, 10)), Err(LimitExceeded::Aliases(6, 5)));
    }

    #[test]
    fn root_fields_count_through_fragments_named_like_introspection() {
        let q = "query { ...__schema y } fragment __schema on Query { a b c }";
        assert_eq!(check(q, &cfg(10, 4)), Ok(()));
        assert_eq!(check(q, &cfg(10, 3)), Err(LimitExceeded::RootFields(4, 3)));
    }

    #[test]
    fn mutations_have_their_own_root_limit() {
        assert_eq!(
            check("mutation { a b }", &cfg(10, 10)),
            Err(LimitExceeded::RootFields(2, 1))
        );
    }

    #[test]
    fn a_fragment_cycle_or_blow_up_does_not_hang_the_count() {
        let mut q = String::from("query { ...F0 } fragment F0 on Q { ...F0 a: x }");
        for i in 1..40 {
            q.push_str(&format!(
                " fragment F{i} on Q {{ ...F{} ...F{} }}",
                i - 1,
                i - 1
            ));
        }
        q = q.replace("query { ...F0 }", "query { ...F39 }");
        assert!(matches!(
            check(&q, &cfg(1_000, 10)),
            Err(LimitExceeded::Aliases(..))
        ));
    }

    #[test]
    fn size_is_checked_in_bytes() {
        let c = LimitsConfig {
            max_query_bytes: 4,
            ..LimitsConfig::default()
        };
        assert!(check_size("{ a}", &c).is_ok());
        assert_eq!(check_size("{ ab}", &c), Err(LimitExceeded::Size(5, 4)));
    }
}
