//! Parser tree -> isoaudit IR. The one file that pattern-matches on
//! `ruff_python_ast` nodes. Depth is bounded so that the IR (and every walker
//! over it) stays shallow whatever the input.

use ruff_python_ast as ast;
use ruff_text_size::{Ranged, TextRange};

use super::ir::*;

/// Nodes nested deeper than this are cut off (real test code stays far below).
pub const MAX_DEPTH: u32 = 200;

pub(crate) struct Converter {
    depth: u32,
    pub too_deep: Option<Span>,
}

fn span(r: TextRange) -> Span {
    Span::new(r.start().to_u32(), r.end().to_u32())
}

impl Converter {
    pub fn new() -> Self {
        Converter {
            depth: 0,
            too_deep: None,
        }
    }

    fn enter(&mut self, r: TextRange) -> bool {
        if self.depth >= MAX_DEPTH {
            if self.too_deep.is_none() {
                self.too_deep = Some(span(r));
            }
            return false;
        }
        self.depth += 1;
        true
    }

    pub fn suite(&mut self, stmts: &[ast::Stmt]) -> Vec<Stmt> {
        stmts.iter().map(|s| self.stmt(s)).collect()
    }

    fn stmt(&mut self, s: &ast::Stmt) -> Stmt {
        let sp = span(s.range());
        if !self.enter(s.range()) {
            return Stmt {
                kind: StmtKind::Other,
                span: sp,
            };
        }
        let kind = self.stmt_kind(s);
        self.depth -= 1;
        Stmt { kind, span: sp }
    }

    fn stmt_kind(&mut self, s: &ast::Stmt) -> StmtKind {
        use ast::Stmt as S;
        match s {
            S::FunctionDef(f) => StmtKind::FunctionDef(std::sync::Arc::new(self.function(f))),
            S::ClassDef(c) => StmtKind::ClassDef(std::sync::Arc::new(Class {
                name: c.name.id.as_str().into(),
                name_span: span(c.name.range),
                bases: c
                    .arguments
                    .as_ref()
                    .map(|a| a.args.iter().map(|e| self.expr(e)).collect())
                    .unwrap_or_default(),
                keywords: c
                    .arguments
                    .as_ref()
                    .map(|a| self.keywords(&a.keywords))
                    .unwrap_or_default(),
                decorators: self.decorators(&c.decorator_list),
                body: class_scope_decorators(self.suite(&c.body)),
                span: span(c.range),
            })),
            S::Return(r) => StmtKind::Return(r.value.as_deref().map(|e| self.expr(e))),
            S::Delete(d) => StmtKind::Delete(self.exprs(&d.targets)),
            S::Assign(a) => StmtKind::Assign {
                targets: self.exprs(&a.targets),
                value: self.expr(&a.value),
            },
            S::AugAssign(a) => StmtKind::AugAssign {
                target: Box::new(self.expr(&a.target)),
                value: Box::new(self.expr(&a.value)),
            },
            S::AnnAssign(a) => StmtKind::AnnAssign {
                target: Box::new(self.expr(&a.target)),
                value: a.value.as_deref().map(|e| Box::new(self.expr(e))),
            },
            S::For(f) => StmtKind::For {
                target: Box::new(self.expr(&f.target)),
                iter: Box::new(self.expr(&f.iter)),
                body: self.suite(&f.body),
                orelse: self.suite(&f.orelse),
            },
            S::While(w) => StmtKind::While {
                test: Box::new(self.expr(&w.test)),
                body: self.suite(&w.body),
                orelse: self.suite(&w.orelse),
            },
            S::If(i) => {
                // Fold `elif`/`else` clauses into nested ifs, innermost first.
                let mut orelse: Vec<Stmt> = Vec::new();
                for clause in i.elif_else_clauses.iter().rev() {
                    let body = self.suite(&clause.body);
                    orelse = match &clause.test {
                        Some(test) => vec![Stmt {
                            kind: StmtKind::If {
                                test: Box::new(self.expr(test)),
                                body,
                                orelse,
                            },
                            span: span(clause.range),
                        }],
                        None => body,
                    };
                }
                StmtKind::If {
                    test: Box::new(self.expr(&i.test)),
                    body: self.suite(&i.body),
                    orelse,
                }
            }
            S::With(w) => StmtKind::With {
                items: w
                    .items
                    .iter()
                    .map(|it| WithItem {
                        context: self.expr(&it.context_expr),
                        target: it.optional_vars.as_deref().map(|e| self.expr(e)),
                    })
                    .collect(),
                body: self.suite(&w.body),
            },
            S::Match(m) => StmtKind::Match {
                subject: self.expr(&m.subject),
                cases: m.cases.iter().map(|c| self.suite(&c.body)).collect(),
            },
            S::Raise(r) => StmtKind::Raise(r.exc.as_deref().map(|e| self.expr(e))),
            S::Try(t) => StmtKind::Try {
                body: self.suite(&t.body),
                handlers: t
                    .handlers
                    .iter()
                    .map(|h| match h {
                        ast::ExceptHandler::ExceptHandler(h) => self.suite(&h.body),
                    })
                    .collect(),
                orelse: self.suite(&t.orelse).into(),
                finalbody: self.suite(&t.finalbody).into(),
            },
            S::Assert(a) => StmtKind::Assert {
                test: Box::new(self.expr(&a.test)),
                msg: a.msg.as_deref().map(|e| Box::new(self.expr(e))),
            },
            S::Import(i) => StmtKind::Import(aliases(&i.names)),
            S::ImportFrom(i) => StmtKind::ImportFrom {
                module: i.module.as_ref().map(|m| IrStr::from(m.id.as_str())),
                level: i.level,
                names: aliases(&i.names),
            },
            S::Global(g) => {
                StmtKind::Global(g.names.iter().map(|n| IrStr::from(n.id.as_str())).collect())
            }
            S::Nonlocal(g) => {
                StmtKind::Nonlocal(g.names.iter().map(|n| IrStr::from(n.id.as_str())).collect())
            }
            S::Expr(e) => StmtKind::Expr(self.expr(&e.value)),
            S::Pass(_) => StmtKind::Pass,
            S::TypeAlias(_) | S::Break(_) | S::Continue(_) | S::IpyEscapeCommand(_) => {
                StmtKind::Other
            }
        }
    }

    fn function(&mut self, f: &ast::StmtFunctionDef) -> Function {
        let p = &f.parameters;
        let mut params = Vec::new();
        for (list, kind) in [
            (&p.posonlyargs, ParamKind::Positional),
            (&p.args, ParamKind::Positional),
        ] {
            for a in list.iter() {
                params.push(self.param_with_default(a, kind));
            }
        }
        if let Some(v) = &p.vararg {
            params.push(Param {
                name: v.name.id.as_str().into(),
                default: None,
                kind: ParamKind::VarArgs,
                span: span(v.range),
            });
        }
        for a in p.kwonlyargs.iter() {
            params.push(self.param_with_default(a, ParamKind::KwOnly));
        }
        if let Some(v) = &p.kwarg {
            params.push(Param {
                name: v.name.id.as_str().into(),
                default: None,
                kind: ParamKind::VarKw,
                span: span(v.range),
            });
        }
        Function {
            name: f.name.id.as_str().into(),
            name_span: span(f.name.range),
            is_async: f.is_async,
            decorators: self.decorators(&f.decorator_list),
            params,
            body: self.suite(&f.body),
            span: span(f.range),
        }
    }

    fn param_with_default(&mut self, a: &ast::ParameterWithDefault, kind: ParamKind) -> Param {
        Param {
            name: a.parameter.name.id.as_str().into(),
            default: a.default.as_deref().map(|e| self.expr(e)),
            kind,
            span: span(a.range),
        }
    }

    fn decorators(&mut self, list: &[ast::Decorator]) -> Vec<Decorator> {
        list.iter()
            .map(|d| Decorator {
                expr: self.expr(&d.expression),
                span: span(d.range),
            })
            .collect()
    }

    fn keywords(&mut self, kws: &[ast::Keyword]) -> Vec<Keyword> {
        kws.iter()
            .map(|k| Keyword {
                name: k.arg.as_ref().map(|a| IrStr::from(a.id.as_str())),
                value: self.expr(&k.value),
            })
            .collect()
    }

    fn exprs(&mut self, list: &[ast::Expr]) -> Vec<Expr> {
        list.iter().map(|e| self.expr(e)).collect()
    }

    pub fn expr(&mut self, e: &ast::Expr) -> Expr {
        let sp = span(e.range());
        if !self.enter(e.range()) {
            return Expr {
                kind: ExprKind::TooDeep,
                span: sp,
            };
        }
        let kind = self.expr_kind(e);
        self.depth -= 1;
        Expr { kind, span: sp }
    }

    fn expr_kind(&mut self, e: &ast::Expr) -> ExprKind {
        use ast::Expr as E;
        match e {
            E::Name(n) => ExprKind::Name(n.id.as_str().into()),
            E::Attribute(a) => ExprKind::Attribute {
                value: Box::new(self.expr(&a.value)),
                attr: a.attr.id.as_str().into(),
            },
            E::Call(c) => ExprKind::Call(Box::new(Call {
                func: self.expr(&c.func),
                args: self.exprs(&c.arguments.args),
                keywords: self.keywords(&c.arguments.keywords),
            })),
            E::StringLiteral(s) => ExprKind::Str(s.value.to_str().into()),
            E::BytesLiteral(_) => ExprKind::Bytes,
            E::FString(f) => {
                let mut parts = Vec::new();
                for part in f.value.iter() {
                    match part {
                        ast::FStringPart::Literal(l) => {
                            parts.push(FPart::Lit(IrStr::from(&*l.value)))
                        }
                        ast::FStringPart::FString(fs) => {
                            self.interpolated(&fs.elements, &mut parts)
                        }
                    }
                }
                ExprKind::FString(parts)
            }
            E::TString(t) => {
                let mut parts = Vec::new();
                for ts in t.value.iter() {
                    self.interpolated(&ts.elements, &mut parts);
                }
                ExprKind::Other(
                    parts
                        .into_iter()
                        .filter_map(|p| match p {
                            FPart::Expr(e) => Some(e),
                            FPart::Lit(_) => None,
                        })
                        .collect(),
                )
            }
            E::NumberLiteral(n) => match &n.value {
                ast::Number::Int(i) => ExprKind::Int(i.as_i64()),
                _ => ExprKind::Float,
            },
            E::BooleanLiteral(b) => ExprKind::Bool(b.value),
            E::NoneLiteral(_) => ExprKind::NoneLit,
            E::EllipsisLiteral(_) => ExprKind::Other(Vec::new()),
            E::BinOp(b) => ExprKind::BinOp {
                left: Box::new(self.expr(&b.left)),
                op: match b.op {
                    ast::Operator::Add => BinOp::Add,
                    ast::Operator::Div => BinOp::Div,
                    ast::Operator::Mod => BinOp::Mod,
                    ast::Operator::Mult => BinOp::Mult,
                    _ => BinOp::Other,
                },
                right: Box::new(self.expr(&b.right)),
            },
            E::List(l) => ExprKind::List(self.exprs(&l.elts)),
            E::Tuple(t) => ExprKind::Tuple(self.exprs(&t.elts)),
            E::Set(s) => ExprKind::Set(self.exprs(&s.elts)),
            E::Dict(d) => ExprKind::Dict(
                d.items
                    .iter()
                    .map(|it| (it.key.as_ref().map(|k| self.expr(k)), self.expr(&it.value)))
                    .collect(),
            ),
            E::Subscript(s) => ExprKind::Subscript {
                value: Box::new(self.expr(&s.value)),
                index: Box::new(self.expr(&s.slice)),
            },
            E::Compare(c) => ExprKind::Compare {
                left: Box::new(self.expr(&c.left)),
                comparators: self.exprs(&c.comparators),
            },
            E::Yield(y) => ExprKind::Yield(y.value.as_deref().map(|v| Box::new(self.expr(v)))),
            E::YieldFrom(y) => ExprKind::Yield(Some(Box::new(self.expr(&y.value)))),
            E::Await(a) => ExprKind::Await(Box::new(self.expr(&a.value))),
            E::Starred(s) => ExprKind::Starred(Box::new(self.expr(&s.value))),
            E::Lambda(l) => ExprKind::Lambda(Box::new(self.expr(&l.body))),
            E::ListComp(c) => self.comprehension(&c.elt, None, &c.generators),
            E::SetComp(c) => self.comprehension(&c.elt, None, &c.generators),
            E::Generator(c) => self.comprehension(&c.elt, None, &c.generators),
            E::DictComp(c) => match c.key.as_deref() {
                Some(key) => self.comprehension(key, Some(&c.value), &c.generators),
                None => self.comprehension(&c.value, None, &c.generators),
            },
            E::BoolOp(b) => ExprKind::Other(self.exprs(&b.values)),
            E::Named(n) => ExprKind::Other(vec![self.expr(&n.target), self.expr(&n.value)]),
            E::UnaryOp(u) => ExprKind::Other(vec![self.expr(&u.operand)]),
            E::If(i) => ExprKind::Other(vec![
                self.expr(&i.test),
                self.expr(&i.body),
                self.expr(&i.orelse),
            ]),
            E::Slice(s) => {
                let mut v = Vec::new();
                for part in [&s.lower, &s.upper, &s.step].into_iter().flatten() {
                    v.push(self.expr(part));
                }
                ExprKind::Other(v)
            }
            E::IpyEscapeCommand(_) => ExprKind::Other(Vec::new()),
        }
    }

    fn interpolated(&mut self, elements: &[ast::InterpolatedStringElement], out: &mut Vec<FPart>) {
        for el in elements {
            match el {
                ast::InterpolatedStringElement::Literal(l) => {
                    out.push(FPart::Lit(IrStr::from(&*l.value)))
                }
                ast::InterpolatedStringElement::Interpolation(i) => {
                    out.push(FPart::Expr(self.expr(&i.expression)))
                }
            }
        }
    }

    fn comprehension(
        &mut self,
        elt: &ast::Expr,
        value: Option<&ast::Expr>,
        generators: &[ast::Comprehension],
    ) -> ExprKind {
        let mut v = vec![self.expr(elt)];
        if let Some(value) = value {
            v.push(self.expr(value));
        }
        for g in generators {
            v.push(self.expr(&g.target));
            v.push(self.expr(&g.iter));
            v.extend(self.exprs(&g.ifs));
        }
        ExprKind::Comprehension(v)
    }
}

fn aliases(names: &[ast::Alias]) -> Vec<Alias> {
    names
        .iter()
        .map(|a| Alias {
            name: a.name.id.as_str().into(),
            asname: a.asname.as_ref().map(|n| IrStr::from(n.id.as_str())),
        })
        .collect()
}

/// Decorators of methods resolve names in the class body first: `@cases`
/// after `cases = pytest.mark.parametrize(...)` in the class is that call.
fn class_scope_decorators(mut body: Vec<Stmt>) -> Vec<Stmt> {
    let mut bound: std::collections::HashMap<String, Expr> = std::collections::HashMap::new();
    for s in &mut body {
        match &mut s.kind {
            StmtKind::Assign { targets, value } => {
                for t in targets.iter() {
                    if let ExprKind::Name(n) = &t.kind {
                        if matches!(value.kind, ExprKind::Call(_)) {
                            bound.insert(n.to_string(), value.clone());
                        } else {
                            bound.remove(n.as_str());
                        }
                    }
                }
            }
            StmtKind::FunctionDef(f) => {
                let aliased = f.decorators.iter().any(
                    |d| matches!(&d.expr.kind, ExprKind::Name(n) if bound.contains_key(n.as_str())),
                );
                if aliased {
                    let f = std::sync::Arc::make_mut(f);
                    for d in &mut f.decorators {
                        if let ExprKind::Name(n) = &d.expr.kind {
                            if let Some(v) = bound.get(n.as_str()) {
                                d.expr = v.clone();
                            }
                        }
                    }
                }
                let name = f.name.clone();
                bound.remove(name.as_str());
            }
            _ => {}
        }
    }
    body
}
