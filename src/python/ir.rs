//! isoaudit's own syntax tree: the subset of Python the analysis needs, with
//! byte spans. Built by `convert.rs` from the parser's tree; everything outside
//! `src/python/` sees only these types, so the parser can be swapped.
//!
//! The tree's depth is bounded at conversion (`MAX_DEPTH`): deeper nodes become
//! `ExprKind::TooDeep` / `StmtKind::Other`, so every recursive walker over this
//! tree is bounded too.

/// Identifiers and string literals: inline up to 24 bytes, so the many short
/// names of a large suite cost no allocation of their own.
pub type IrStr = compact_str::CompactString;

/// Byte offsets `[start, end)` into the decoded source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: u32, end: u32) -> Self {
        Span { start, end }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Div,
    Mod,
    Mult,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FPart {
    Lit(IrStr),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    /// `None` for `**kwargs`.
    pub name: Option<IrStr>,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: Expr,
    pub args: Vec<Expr>,
    pub keywords: Vec<Keyword>,
}

impl Call {
    pub fn keyword(&self, name: &str) -> Option<&Expr> {
        self.keywords
            .iter()
            .find(|k| k.name.as_deref() == Some(name))
            .map(|k| &k.value)
    }

    /// Positional argument `index`, or the keyword `name`.
    pub fn arg(&self, index: usize, name: &str) -> Option<&Expr> {
        self.args
            .get(index)
            .filter(|a| !matches!(a.kind, ExprKind::Starred(_)))
            .or_else(|| self.keyword(name))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Name(IrStr),
    Attribute {
        value: Box<Expr>,
        attr: IrStr,
    },
    Call(Box<Call>),
    Str(IrStr),
    FString(Vec<FPart>),
    Bytes,
    /// `None` when the literal does not fit an i64.
    Int(Option<i64>),
    Float,
    Bool(bool),
    NoneLit,
    BinOp {
        left: Box<Expr>,
        op: BinOp,
        right: Box<Expr>,
    },
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Set(Vec<Expr>),
    Dict(Vec<(Option<Expr>, Expr)>),
    Subscript {
        value: Box<Expr>,
        index: Box<Expr>,
    },
    Compare {
        left: Box<Expr>,
        comparators: Vec<Expr>,
    },
    Yield(Option<Box<Expr>>),
    Await(Box<Expr>),
    Starred(Box<Expr>),
    Lambda(Box<Expr>),
    /// Comprehensions: element, iterables and conditions as children.
    Comprehension(Vec<Expr>),
    /// Anything else, with its sub-expressions (bool ops, ternaries, slices...).
    Other(Vec<Expr>),
    /// Cut off at `MAX_DEPTH`.
    TooDeep,
}

impl Expr {
    /// Direct sub-expressions, for generic walks.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Attribute { value, .. } => vec![value],
            ExprKind::Call(call) => {
                let mut v = vec![&call.func];
                v.extend(call.args.iter());
                v.extend(call.keywords.iter().map(|k| &k.value));
                v
            }
            ExprKind::FString(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    FPart::Expr(e) => Some(e),
                    FPart::Lit(_) => None,
                })
                .collect(),
            ExprKind::BinOp { left, right, .. } => vec![left, right],
            ExprKind::List(v)
            | ExprKind::Tuple(v)
            | ExprKind::Set(v)
            | ExprKind::Comprehension(v)
            | ExprKind::Other(v) => v.iter().collect(),
            ExprKind::Dict(items) => items
                .iter()
                .flat_map(|(k, v)| k.iter().chain(std::iter::once(v)))
                .collect(),
            ExprKind::Subscript { value, index } => vec![value, index],
            ExprKind::Compare { left, comparators } => {
                let mut v = vec![&**left];
                v.extend(comparators.iter());
                v
            }
            ExprKind::Yield(Some(e))
            | ExprKind::Await(e)
            | ExprKind::Starred(e)
            | ExprKind::Lambda(e) => vec![e],
            _ => Vec::new(),
        }
    }

    /// `a.b.c` as `["a", "b", "c"]` when the expression is a plain dotted name.
    pub fn dotted(&self) -> Option<Vec<&str>> {
        match &self.kind {
            ExprKind::Name(n) => Some(vec![n.as_str()]),
            ExprKind::Attribute { value, attr } => {
                let mut v = value.dotted()?;
                v.push(attr.as_str());
                Some(v)
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_call(&self) -> Option<&Call> {
        match &self.kind {
            ExprKind::Call(c) => Some(c),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WithItem {
    pub context: Expr,
    pub target: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub name: IrStr,
    pub asname: Option<IrStr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Positional,
    VarArgs,
    KwOnly,
    VarKw,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: IrStr,
    pub default: Option<Expr>,
    pub kind: ParamKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decorator {
    pub expr: Expr,
    /// From the `@` to the end of the expression.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: IrStr,
    pub name_span: Span,
    pub is_async: bool,
    pub decorators: Vec<Decorator>,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub name: IrStr,
    pub name_span: Span,
    pub bases: Vec<Expr>,
    pub keywords: Vec<Keyword>,
    pub decorators: Vec<Decorator>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    FunctionDef(std::sync::Arc<Function>),
    ClassDef(std::sync::Arc<Class>),
    Assign {
        targets: Vec<Expr>,
        value: Expr,
    },
    AugAssign {
        target: Box<Expr>,
        value: Box<Expr>,
    },
    AnnAssign {
        target: Box<Expr>,
        value: Option<Box<Expr>>,
    },
    Expr(Expr),
    Return(Option<Expr>),
    Delete(Vec<Expr>),
    With {
        items: Vec<WithItem>,
        body: Vec<Stmt>,
    },
    /// `elif` chains are nested `If`s in `orelse`.
    If {
        test: Box<Expr>,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
    },
    For {
        target: Box<Expr>,
        iter: Box<Expr>,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
    },
    While {
        test: Box<Expr>,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
    },
    Try {
        body: Vec<Stmt>,
        handlers: Box<[Vec<Stmt>]>,
        orelse: Box<[Stmt]>,
        finalbody: Box<[Stmt]>,
    },
    Match {
        subject: Expr,
        cases: Vec<Vec<Stmt>>,
    },
    Raise(Option<Expr>),
    Assert {
        test: Box<Expr>,
        msg: Option<Box<Expr>>,
    },
    Import(Vec<Alias>),
    ImportFrom {
        module: Option<IrStr>,
        level: u32,
        names: Vec<Alias>,
    },
    Global(Vec<IrStr>),
    Nonlocal(Vec<IrStr>),
    Pass,
    Other,
}

impl Stmt {
    /// Nested statement blocks (not into function or class bodies).
    pub fn blocks(&self) -> Vec<&[Stmt]> {
        match &self.kind {
            StmtKind::With { body, .. } => vec![body],
            StmtKind::If { body, orelse, .. }
            | StmtKind::For { body, orelse, .. }
            | StmtKind::While { body, orelse, .. } => vec![body, orelse],
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                let mut v: Vec<&[Stmt]> = vec![body];
                v.extend(handlers.iter().map(|h| h.as_slice()));
                v.push(orelse);
                v.push(finalbody);
                v
            }
            StmtKind::Match { cases, .. } => cases.iter().map(|c| c.as_slice()).collect(),
            _ => Vec::new(),
        }
    }

    /// Expressions held directly by this statement (not in nested blocks).
    pub fn exprs(&self) -> Vec<&Expr> {
        match &self.kind {
            StmtKind::Assign { targets, value } => {
                let mut v: Vec<&Expr> = targets.iter().collect();
                v.push(value);
                v
            }
            StmtKind::AugAssign { target, value } => vec![&**target, &**value],
            StmtKind::AnnAssign { target, value } => {
                let mut v = vec![&**target];
                v.extend(value.as_deref());
                v
            }
            StmtKind::Expr(e) => vec![e],
            StmtKind::Return(e) | StmtKind::Raise(e) => e.iter().collect(),
            StmtKind::Delete(v) => v.iter().collect(),
            StmtKind::With { items, .. } => items
                .iter()
                .flat_map(|i| std::iter::once(&i.context).chain(i.target.iter()))
                .collect(),
            StmtKind::If { test, .. } | StmtKind::While { test, .. } => vec![&**test],
            StmtKind::For { target, iter, .. } => vec![&**target, &**iter],
            StmtKind::Match { subject, .. } => vec![subject],
            StmtKind::Assert { test, msg } => {
                let mut v = vec![&**test];
                v.extend(msg.as_deref());
                v
            }
            _ => Vec::new(),
        }
    }
}

/// Calls `f` on every expression in `body`, nested ones included, without
/// entering nested function or class bodies.
pub fn visit_exprs<'a>(body: &'a [Stmt], f: &mut impl FnMut(&'a Expr)) {
    fn expr<'a>(e: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
        f(e);
        for ch in e.children() {
            expr(ch, f);
        }
    }
    for s in body {
        for e in s.exprs() {
            expr(e, f);
        }
        for b in s.blocks() {
            visit_exprs(b, f);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub span: Span,
    /// The comment text including the leading `#`.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Module {
    pub body: Vec<Stmt>,
    pub comments: Vec<Comment>,
    /// Some node was deeper than `MAX_DEPTH` and was cut off.
    pub too_deep: Option<Span>,
}
