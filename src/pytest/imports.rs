//! Name resolution through imports: `import pytest as pt`, `from unittest
//! import mock`, `from pytest import fixture as fx` all map a local name to a
//! qualified dotted name, so rules never match on spelling alone.

use std::collections::HashMap;

use crate::python::ir::{Expr, ExprKind, Stmt, StmtKind};

#[derive(Debug, Clone, Default)]
pub struct Imports {
    /// local name -> qualified name (`pt` -> `pytest`, `mock` -> `unittest.mock`).
    map: HashMap<String, String>,
    /// Dotted modules `import a.b.c` loads beyond the name it binds (`a`).
    submodules: Vec<String>,
    /// Modules star-imported (`from a.b import *`), in order.
    stars: Vec<String>,
}

impl Imports {
    /// Imports at module level, including those nested in `if`/`try` blocks.
    pub fn from_body(body: &[Stmt]) -> Self {
        let mut imports = Imports::default();
        imports.add_body(body);
        imports
    }

    /// Adds the imports of a block (module level or a function body).
    pub fn add_body(&mut self, body: &[Stmt]) {
        for stmt in body {
            self.add_stmt(stmt);
            if !matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
                for block in stmt.blocks() {
                    self.add_body(block);
                }
            }
        }
    }

    fn add_stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Import(aliases) => {
                for a in aliases {
                    match &a.asname {
                        Some(as_) => {
                            self.map.insert(as_.to_string(), a.name.to_string());
                        }
                        None => {
                            // `import a.b` binds `a`, and loads `a.b`.
                            let first = a.name.split('.').next().unwrap_or(&a.name);
                            self.map.insert(first.to_string(), first.to_string());
                            if a.name.contains('.') && !self.submodules.iter().any(|s| s == a.name)
                            {
                                self.submodules.push(a.name.to_string());
                            }
                        }
                    }
                }
            }
            StmtKind::ImportFrom {
                module,
                level,
                names,
            } => {
                // Relative imports keep one dot per level, resolved later
                // by `resolve_relative`.
                let dots = ".".repeat(*level as usize);
                for a in names {
                    if a.name == "*" {
                        if let Some(m) = module {
                            let target = format!("{dots}{m}");
                            if !self.stars.contains(&target) {
                                self.stars.push(target);
                            }
                        }
                        continue;
                    }
                    let local = a.asname.clone().unwrap_or_else(|| a.name.clone());
                    let target = match module {
                        Some(m) => format!("{dots}{m}.{}", a.name),
                        None => format!("{dots}{}", a.name),
                    };
                    self.map.insert(local.to_string(), target);
                }
            }
            _ => {}
        }
    }

    /// Rewrites relative imports (`from .admin import X` -> `pkg.admin.X`)
    /// against the dotted name of the module they appear in.
    pub fn resolve_relative(&mut self, module_dotted: &str) {
        for target in self.stars.iter_mut() {
            if target.starts_with('.') {
                *target = resolve_relative_name(target, module_dotted);
            }
        }
        for target in self.map.values_mut() {
            if target.starts_with('.') {
                *target = resolve_relative_name(target, module_dotted);
            }
        }
    }

    /// Every (local name, qualified name) pair.
    /// The modules `from m import *` statements name.
    pub fn stars(&self) -> impl Iterator<Item = &str> {
        self.stars.iter().map(String::as_str)
    }

    /// The dotted modules `import a.b.c` statements load (`a.b.c`).
    pub fn submodules(&self) -> impl Iterator<Item = &str> {
        self.submodules.iter().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, local: &str) -> Option<&str> {
        self.map.get(local).map(String::as_str)
    }

    pub fn is_imported(&self, local: &str) -> bool {
        self.map.contains_key(local)
    }

    /// The qualified dotted name of `expr` when its head is an imported name
    /// (`pt.mark.serial` -> `pytest.mark.serial`); plain builtins like `open`
    /// come back as themselves.
    pub fn qualify(&self, expr: &Expr) -> Option<String> {
        let parts = expr.dotted()?;
        let head = parts[0];
        let mut out = match self.map.get(head) {
            Some(q) => q.clone(),
            None => head.to_string(),
        };
        for p in &parts[1..] {
            out.push('.');
            out.push_str(p);
        }
        Some(out)
    }

    /// Like `qualify` but a call is qualified by its callee.
    pub fn qualify_callee(&self, expr: &Expr) -> Option<String> {
        match &expr.kind {
            ExprKind::Call(c) => self.qualify(&c.func),
            _ => self.qualify(expr),
        }
    }
}

/// `..helpers.io` imported in `module_dotted` (`tests.sub.test_a`) ->
/// `tests.helpers.io`: one dot is the module's own package, each further
/// dot goes up. Absolute names come back unchanged.
pub fn resolve_relative_name(target: &str, module_dotted: &str) -> String {
    if !target.starts_with('.') {
        return target.to_string();
    }
    let level = target.chars().take_while(|c| *c == '.').count();
    let rest = &target[level..];
    let mut parts: Vec<&str> = module_dotted.split('.').collect();
    for _ in 0..level {
        parts.pop();
    }
    let base = parts.join(".");
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => base,
        (false, false) => format!("{base}.{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::parse;

    fn q(src: &str, expr: &str) -> Option<String> {
        let m = parse(format!("{src}\n_x = {expr}\n"));
        let imports = Imports::from_body(&m.module.body);
        let StmtKind::Assign { value, .. } = &m.module.body.last().unwrap().kind else {
            panic!()
        };
        imports.qualify(value)
    }

    #[test]
    fn relative_imports_resolve_against_the_package() {
        let m = parse(
            "from .admin import Site\nfrom ..helpers import io\nfrom . import util\n".to_string(),
        );
        let mut imports = Imports::from_body(&m.module.body);
        imports.resolve_relative("tests.admin_views.test_actions");
        assert_eq!(imports.get("Site"), Some("tests.admin_views.admin.Site"));
        assert_eq!(imports.get("io"), Some("tests.helpers.io"));
        assert_eq!(imports.get("util"), Some("tests.admin_views.util"));
    }

    #[test]
    fn aliases_resolve() {
        assert_eq!(
            q("import pytest as pt", "pt.fixture").as_deref(),
            Some("pytest.fixture")
        );
        assert_eq!(
            q("from pytest import fixture as fx", "fx").as_deref(),
            Some("pytest.fixture")
        );
        assert_eq!(
            q("from unittest import mock", "mock.patch.dict").as_deref(),
            Some("unittest.mock.patch.dict")
        );
        assert_eq!(
            q("import os.path", "os.path.join").as_deref(),
            Some("os.path.join")
        );
        assert_eq!(q("", "open").as_deref(), Some("open"));
        assert_eq!(
            q(
                "try:\n    import pytest_asyncio as pa\nexcept ImportError:\n    pass",
                "pa.fixture"
            )
            .as_deref(),
            Some("pytest_asyncio.fixture")
        );
    }
}
