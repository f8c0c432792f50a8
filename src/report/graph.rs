//! `isoaudit graph`: the fixture dependency graph (`Suite::graph`) with the
//! hazards each node carries, filtered to one test or one resource, rendered
//! as Graphviz dot, a Mermaid flowchart or versioned JSON. Node ids are
//! derived from names, never from positions, so a node keeps its id when a
//! filter changes what else is drawn.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use petgraph::graph::NodeIndex;
use petgraph::Direction;
use serde::Serialize;

use crate::classify::{keys_overlap, Verdict};
use crate::facts::{Effect, Hazard};
use crate::graph::GraphNode;
use crate::plan::{function_nodeid, TestClass};
use crate::Analysis;

use super::render::mermaid_label;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Node {
    pub id: String,
    /// `test`, `fixture`, `builtin` or `unresolved`.
    pub kind: &'static str,
    pub label: String,
    /// A test's class; for a fixture the class its own hazards would give
    /// (`none` when it has none).
    pub class: &'static str,
    pub codes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autouse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

/// `isoaudit graph --format json`, version 1.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub version: u32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A filter that names nothing in the suite.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("no test `{given}` in the analysed suite{hint}")]
    UnknownTest { given: String, hint: String },
    #[error("`{given}` matches {count} tests; give the full node id{hint}")]
    AmbiguousTest {
        given: String,
        count: usize,
        hint: String,
    },
    #[error("no hazard in the analysed suite carries the resource `{given}`{hint}")]
    UnknownResource { given: String, hint: String },
}

fn class_of_hazards<'h>(hazards: impl Iterator<Item = &'h Hazard>) -> &'static str {
    let mut effects = BTreeSet::new();
    for h in hazards {
        match h.effect {
            Effect::Note => {}
            Effect::Order if h.key.is_none() => {}
            e => {
                effects.insert(e);
            }
        }
    }
    if effects.contains(&Effect::Serial) {
        TestClass::Serial.as_str()
    } else if effects.contains(&Effect::Heavy) {
        TestClass::Heavy.as_str()
    } else if effects.contains(&Effect::Shared) {
        TestClass::Grouped.as_str()
    } else if effects.contains(&Effect::Order) {
        TestClass::OrderRisk.as_str()
    } else {
        "none"
    }
}

/// "; did you mean `a`, `b` (and 3 more)?" or "; known resources: ...".
fn hint(lead: &str, options: &[&str], end: &str) -> String {
    if options.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = options.iter().take(5).map(|o| format!("`{o}`")).collect();
    let more = options.len().saturating_sub(5);
    format!(
        "; {lead} {}{}{end}",
        shown.join(", "),
        if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        }
    )
}

fn one_line_hint(options: &[&str]) -> String {
    hint("did you mean", options, "?")
}

/// Finds the test a `--test` value names: the exact function node id (a
/// `[param]` suffix is dropped), else the one node id ending with it.
fn find_test<'a>(verdicts: &'a [Verdict], given: &str) -> Result<&'a str, FilterError> {
    let wanted = function_nodeid(given.trim());
    if let Some(v) = verdicts.iter().find(|v| v.nodeid == wanted) {
        return Ok(&v.nodeid);
    }
    let suffix = format!("::{}", wanted.trim_start_matches("::"));
    let matches: Vec<&str> = verdicts
        .iter()
        .map(|v| v.nodeid.as_str())
        .filter(|id| id.ends_with(&suffix))
        .collect();
    match matches.len() {
        1 => Ok(matches[0]),
        0 => {
            let name = wanted.rsplit("::").next().unwrap_or(wanted);
            let similar: Vec<&str> = verdicts
                .iter()
                .map(|v| v.nodeid.as_str())
                .filter(|id| !name.is_empty() && id.contains(name))
                .collect();
            Err(FilterError::UnknownTest {
                given: given.to_string(),
                hint: one_line_hint(&similar),
            })
        }
        n => Err(FilterError::AmbiguousTest {
            given: given.to_string(),
            count: n,
            hint: one_line_hint(&matches),
        }),
    }
}

/// Every resource key the analysis knows.
fn known_keys(a: &Analysis) -> BTreeSet<&str> {
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for ff in a.facts.fixtures.values() {
        keys.extend(ff.hazards.iter().filter_map(|h| h.key.as_deref()));
    }
    for v in &a.verdicts {
        keys.extend(
            v.hazards
                .iter()
                .filter(|r| r.hazard.code != "marker")
                .filter_map(|r| r.hazard.key.as_deref()),
        );
        keys.extend(v.order_keys.iter().map(String::as_str));
    }
    keys
}

/// The key a `--resource` value names: exact, else the one key whose part
/// after `kind:` it is.
fn find_key<'a>(keys: &BTreeSet<&'a str>, given: &str) -> Result<&'a str, FilterError> {
    let given_t = given.trim();
    if let Some(k) = keys.get(given_t) {
        return Ok(k);
    }
    let bare: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| k.split_once(':').is_some_and(|(_, rest)| rest == given_t))
        .collect();
    if bare.len() == 1 {
        return Ok(bare[0]);
    }
    let similar: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !given_t.is_empty() && k.contains(given_t))
        .collect();
    // Else the keys of the same kind, else all of them.
    let kind = given_t.split_once(':').map(|(k, _)| format!("{k}:"));
    let same_kind: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| kind.as_deref().is_some_and(|p| k.starts_with(p)))
        .collect();
    let hint = if !similar.is_empty() {
        one_line_hint(&similar)
    } else if !same_kind.is_empty() {
        hint("known resources of that kind:", &same_kind, "")
    } else {
        let all: Vec<&str> = keys.iter().copied().collect();
        if all.is_empty() {
            "; this suite has no resource keys".to_string()
        } else {
            hint("known resources:", &all, "")
        }
    };
    Err(FilterError::UnknownResource {
        given: given.to_string(),
        hint,
    })
}

/// Builds the graph view, keeping only what the filters select.
pub fn build(
    a: &Analysis,
    test: Option<&str>,
    resource: Option<&str>,
) -> Result<View, FilterError> {
    let fg = a.suite.graph();
    let g = &fg.graph;
    let verdicts: HashMap<&str, &Verdict> =
        a.verdicts.iter().map(|v| (v.nodeid.as_str(), v)).collect();
    let tests: HashMap<&str, &crate::pytest::Test> =
        a.suite.tests().map(|t| (t.nodeid.as_str(), t)).collect();

    // Ids: kind-prefixed names; a repeated fixture id (a redefinition in the
    // same module) gets its definition index.
    let mut ids: Vec<String> = Vec::with_capacity(g.node_count());
    let mut used: BTreeSet<String> = BTreeSet::new();
    for n in g.node_indices() {
        let base = match &g[n] {
            GraphNode::Test(id) => format!("test:{id}"),
            GraphNode::Fixture(_, id) => format!("fixture:{id}"),
            GraphNode::Builtin(name) => format!("builtin:{name}"),
            GraphNode::Unresolved(name) => format!("unresolved:{name}"),
        };
        let id = if used.contains(&base) {
            match &g[n] {
                GraphNode::Fixture(r, _) => format!("{base}#{}", r.index),
                _ => format!("{base}#{}", n.index()),
            }
        } else {
            base
        };
        used.insert(id.clone());
        ids.push(id);
    }

    let mut keep: BTreeSet<NodeIndex> = g.node_indices().collect();
    if let Some(given) = test {
        let nodeid = find_test(&a.verdicts, given)?;
        let start = g
            .node_indices()
            .find(|&n| matches!(&g[n], GraphNode::Test(id) if id == nodeid));
        keep = start
            .map(|s| reach(g, [s], Direction::Outgoing))
            .unwrap_or_default();
    }
    if let Some(given) = resource {
        let keys = known_keys(a);
        let key = find_key(&keys, given)?;
        // A directory covers the paths inside it, as in the scheduler.
        let carries = |k: Option<&str>| {
            k.is_some_and(|k| k == key || (keys_overlap(k, key) && k.len() > key.len()))
        };
        let carriers: Vec<NodeIndex> = g
            .node_indices()
            .filter(|&n| match &g[n] {
                GraphNode::Fixture(r, _) => a
                    .facts
                    .fixtures
                    .get(r)
                    .is_some_and(|ff| ff.hazards.iter().any(|h| carries(h.key.as_deref()))),
                _ => false,
            })
            .collect();
        let tests: Vec<NodeIndex> = g
            .node_indices()
            .filter(|&n| match &g[n] {
                GraphNode::Test(id) => verdicts.get(id.as_str()).is_some_and(|v| {
                    v.hazards
                        .iter()
                        .any(|r| r.hazard.code != "marker" && carries(r.hazard.key.as_deref()))
                        || v.order_keys.iter().any(|k| carries(Some(k)))
                }),
                _ => false,
            })
            .collect();
        let down = reach(g, tests.iter().copied(), Direction::Outgoing);
        let up = reach(g, carriers.iter().copied(), Direction::Incoming);
        let mut selected: BTreeSet<NodeIndex> = down.intersection(&up).copied().collect();
        selected.extend(tests);
        selected.extend(carriers);
        keep = keep.intersection(&selected).copied().collect();
    }

    let mut nodes: Vec<Node> = keep
        .iter()
        .map(|&n| {
            let id = ids[n.index()].clone();
            match &g[n] {
                GraphNode::Test(nodeid) => {
                    let v = verdicts.get(nodeid.as_str());
                    let t = tests.get(nodeid.as_str()).copied();
                    Node {
                        id,
                        kind: "test",
                        label: nodeid.clone(),
                        class: v.map(|v| v.class.as_str()).unwrap_or("parallel"),
                        codes: v.map(|v| v.codes.clone()).unwrap_or_default(),
                        scope: None,
                        autouse: None,
                        path: t.map(|t| a.suite.modules[t.module].rel.clone()),
                        line: t.map(|t| a.texts[t.module].location(t.span).line),
                    }
                }
                GraphNode::Fixture(r, _) => {
                    let f = a.suite.fixture(*r);
                    let hazards = a.facts.fixtures.get(r).map(|ff| ff.hazards.as_slice());
                    let codes: BTreeSet<String> = hazards
                        .unwrap_or(&[])
                        .iter()
                        .map(|h| h.code.to_string())
                        .collect();
                    Node {
                        id,
                        kind: "fixture",
                        label: f.name.clone(),
                        class: class_of_hazards(hazards.unwrap_or(&[]).iter()),
                        codes: codes.into_iter().collect(),
                        scope: Some(f.scope.as_str()),
                        autouse: Some(f.autouse),
                        path: Some(a.suite.modules[r.module].rel.clone()),
                        line: Some(a.texts[r.module].location(f.span).line),
                    }
                }
                GraphNode::Builtin(name) | GraphNode::Unresolved(name) => Node {
                    id,
                    kind: if matches!(&g[n], GraphNode::Builtin(_)) {
                        "builtin"
                    } else {
                        "unresolved"
                    },
                    label: name.clone(),
                    class: "none",
                    codes: Vec::new(),
                    scope: None,
                    autouse: None,
                    path: None,
                    line: None,
                },
            }
        })
        .collect();
    nodes.sort();
    let mut edges: Vec<Edge> = g
        .edge_indices()
        .filter_map(|e| g.edge_endpoints(e))
        .filter(|(x, y)| keep.contains(x) && keep.contains(y))
        .map(|(x, y)| Edge {
            from: ids[x.index()].clone(),
            to: ids[y.index()].clone(),
        })
        .collect();
    edges.sort();
    edges.dedup();
    Ok(View {
        version: 1,
        nodes,
        edges,
    })
}

fn reach<G>(
    g: &petgraph::graph::DiGraph<G, ()>,
    start: impl IntoIterator<Item = NodeIndex>,
    dir: Direction,
) -> BTreeSet<NodeIndex> {
    let mut seen: BTreeSet<NodeIndex> = BTreeSet::new();
    let mut queue: VecDeque<NodeIndex> = VecDeque::new();
    for s in start {
        if seen.insert(s) {
            queue.push_back(s);
        }
    }
    while let Some(n) = queue.pop_front() {
        for m in g.neighbors_directed(n, dir) {
            if seen.insert(m) {
                queue.push_back(m);
            }
        }
    }
    seen
}

/// Fill and border colours per class.
fn colours(class: &str) -> Option<(&'static str, &'static str)> {
    match class {
        "serial" => Some(("#f8b4b4", "#c0392b")),
        "grouped" => Some(("#fdd9a0", "#e67e22")),
        "order-risk" => Some(("#fff3a0", "#b7950b")),
        "heavy" => Some(("#dcc6f0", "#8e44ad")),
        _ => None,
    }
}

fn node_caption(n: &Node) -> Vec<String> {
    let mut lines = vec![n.label.clone()];
    match n.kind {
        "fixture" => {
            let mut second = n.scope.unwrap_or("function").to_string();
            if n.autouse == Some(true) {
                second.push_str(", autouse");
            }
            if !n.codes.is_empty() {
                second.push_str(" · ");
                second.push_str(&n.codes.join(" "));
            }
            lines.push(second);
            if let Some(p) = &n.path {
                lines.push(p.clone());
            }
        }
        "test" => {
            let mut second = n.class.to_string();
            if !n.codes.is_empty() {
                second.push_str(" · ");
                second.push_str(&n.codes.join(" "));
            }
            lines.push(second);
        }
        "builtin" => lines.push("builtin".into()),
        _ => lines.push("unresolved".into()),
    }
    lines
}

/// Text inside a dot double-quoted string.
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

fn dot_str(s: &str) -> String {
    format!("\"{}\"", dot_escape(s))
}

pub fn dot(v: &View) -> String {
    let mut out = String::from("digraph fixtures {\n");
    out.push_str("  // Fill: serial red, grouped orange, order-risk yellow, heavy purple.\n");
    out.push_str("  rankdir=LR;\n");
    out.push_str(
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];\n",
    );
    for n in &v.nodes {
        let label = node_caption(n)
            .iter()
            .map(|l| dot_escape(l))
            .collect::<Vec<_>>()
            .join("\\n");
        let mut attrs = vec![format!("label=\"{label}\"")];
        match n.kind {
            "test" => attrs.push("shape=ellipse".into()),
            "builtin" => attrs.push("style=\"rounded,dashed\"".into()),
            "unresolved" => {
                attrs.push("style=\"rounded,dashed\"".into());
                attrs.push("color=\"#c0392b\"".into());
            }
            _ => {}
        }
        if let Some((fill, border)) = colours(n.class) {
            attrs.push(format!("fillcolor=\"{fill}\""));
            attrs.push(format!("color=\"{border}\""));
        }
        out.push_str(&format!("  {} [{}];\n", dot_str(&n.id), attrs.join(", ")));
    }
    for e in &v.edges {
        out.push_str(&format!("  {} -> {};\n", dot_str(&e.from), dot_str(&e.to)));
    }
    out.push_str("}\n");
    out
}

/// A Mermaid node id from a node id: letters and digits stay, `_` doubles,
/// anything else becomes `_x<hex>_`. Injective, so ids never collide.
pub fn mermaid_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    for ch in id.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if ch == '_' {
            out.push_str("__");
        } else {
            out.push_str(&format!("_x{:x}_", ch as u32));
        }
    }
    out
}

pub fn mermaid(v: &View) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut by_class: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for n in &v.nodes {
        let id = mermaid_id(&n.id);
        let label = node_caption(n)
            .iter()
            .map(|l| mermaid_label(l))
            .collect::<Vec<_>>()
            .join("<br/>");
        let shape = match n.kind {
            "test" => format!("([\"{label}\"])"),
            "builtin" => format!("[/\"{label}\"/]"),
            "unresolved" => format!(">\"{label}\"]"),
            _ => format!("[\"{label}\"]"),
        };
        out.push_str(&format!("  {id}{shape}\n"));
        let class = match n.kind {
            "builtin" | "unresolved" => n.kind,
            _ => n.class,
        };
        if colours(class).is_some() || matches!(class, "builtin" | "unresolved") {
            by_class.entry(class).or_default().push(id);
        }
    }
    for e in &v.edges {
        out.push_str(&format!(
            "  {} --> {}\n",
            mermaid_id(&e.from),
            mermaid_id(&e.to)
        ));
    }
    for class in ["serial", "grouped", "order-risk", "heavy"] {
        if let Some((fill, border)) = colours(class) {
            out.push_str(&format!(
                "  classDef {} fill:{fill},stroke:{border}\n",
                class.replace('-', "")
            ));
        }
    }
    out.push_str("  classDef builtin stroke-dasharray:3 3\n");
    out.push_str("  classDef unresolved stroke:#c0392b,stroke-dasharray:3 3\n");
    for (class, ids) in by_class {
        out.push_str(&format!(
            "  class {} {}\n",
            ids.join(","),
            class.replace('-', "")
        ));
    }
    out
}

pub fn json(v: &View) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_ids_are_injective_and_safe() {
        assert_eq!(mermaid_id("test:a_b"), "test_x3a_a__b");
        assert_ne!(mermaid_id("a_x3a_"), mermaid_id("a:"));
        assert!(mermaid_id("fixture:t/c.py::x[\"1\"]")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }

    #[test]
    fn dot_strings_escape_quotes_and_backslashes() {
        assert_eq!(dot_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
