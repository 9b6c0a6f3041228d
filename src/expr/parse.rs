//! Expressions parsed into a tree: precedence from low to high `or`,
//! `and`, `= !=`, `< <= > >=`, `+ -`, `* div mod`, unary `-`, then
//! literals, `${key}`, `.`, calls and brackets. The grammar is XPath 1.0's
//! as XLSForm uses it; unknown functions, wrong argument counts, and
//! anything past the limits are refused here, never when evaluated.

use super::{ExprError, MAX_DEPTH, MAX_LEN};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str(String),
    Num(f64),
    /// `${key}`: an answer (in a repeat, the row's own item first).
    Ref(String),
    /// `.`: the answer of the item the expression belongs to.
    Current,
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

impl Expr {
    /// The keys the expression reads (`${key}`, in order, with repeats),
    /// and whether it reads its own item's answer (`.`). The tree is at
    /// most [`MAX_DEPTH`] deep, so the recursion is bounded.
    pub fn reads(&self) -> (Vec<&str>, bool) {
        fn walk<'a>(e: &'a Expr, keys: &mut Vec<&'a str>, current: &mut bool) {
            match e {
                Expr::Str(_) | Expr::Num(_) => {}
                Expr::Ref(k) => keys.push(k),
                Expr::Current => *current = true,
                Expr::Neg(x) => walk(x, keys, current),
                Expr::Bin(_, l, r) => {
                    walk(l, keys, current);
                    walk(r, keys, current);
                }
                Expr::Call(_, args) => args.iter().for_each(|a| walk(a, keys, current)),
            }
        }
        let (mut keys, mut current) = (Vec::new(), false);
        walk(self, &mut keys, &mut current);
        (keys, current)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Not,
    Selected,
    CountSelected,
    Count,
    If,
    StringLength,
    True,
    False,
}

impl Func {
    fn named(name: &str) -> Option<(Func, usize)> {
        Some(match name {
            "not" => (Func::Not, 1),
            "selected" => (Func::Selected, 2),
            "count-selected" => (Func::CountSelected, 1),
            "count" => (Func::Count, 1),
            "if" => (Func::If, 3),
            "string-length" => (Func::StringLength, 1),
            "true" => (Func::True, 0),
            "false" => (Func::False, 0),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Num(f64),
    Ref(String),
    Dot,
    Name(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

/// XPath's whitespace.
pub(super) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn err(at: usize, reason: impl Into<String>) -> ExprError {
    ExprError {
        at,
        reason: reason.into(),
    }
}

fn tokens(src: &[char]) -> Result<Vec<(usize, Tok)>, ExprError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        let start = i;
        if is_space(c) {
            i += 1;
            continue;
        }
        let tok = match c {
            '\'' | '"' => {
                let end = src[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .ok_or_else(|| err(start, "引号没有配对"))?;
                let s: String = src[i + 1..i + 1 + end].iter().collect();
                i += end + 2;
                Tok::Str(s)
            }
            '$' => {
                if src.get(i + 1) != Some(&'{') {
                    return Err(err(start, "引用须写成 ${名称}"));
                }
                let end = src[i + 2..]
                    .iter()
                    .position(|&d| d == '}')
                    .ok_or_else(|| err(start, "引用缺少 }"))?;
                let name: String = src[i + 2..i + 2 + end].iter().collect();
                let ok = name
                    .chars()
                    .next()
                    .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                    && name.chars().all(|f| f.is_ascii_alphanumeric() || f == '_');
                if !ok {
                    return Err(err(start, format!("“{name}”不是检查项的编号")));
                }
                i += end + 3;
                Tok::Ref(name)
            }
            '0'..='9' | '.' => {
                let mut j = i;
                while j < src.len() && src[j].is_ascii_digit() {
                    j += 1;
                }
                if j < src.len() && src[j] == '.' {
                    j += 1;
                    while j < src.len() && src[j].is_ascii_digit() {
                        j += 1;
                    }
                }
                let text: String = src[i..j].iter().collect();
                i = j;
                if text == "." {
                    Tok::Dot
                } else {
                    Tok::Num(text.parse().map_err(|_| err(start, "数字写法不对"))?)
                }
            }
            'a'..='z' | 'A'..='Z' => {
                let mut j = i;
                while j < src.len() && (src[j].is_ascii_alphanumeric() || src[j] == '-') {
                    j += 1;
                }
                let name: String = src[i..j].iter().collect();
                i = j;
                match name.as_str() {
                    "and" | "or" | "div" | "mod" => Tok::Op(match name.as_str() {
                        "and" => "and",
                        "or" => "or",
                        "div" => "div",
                        _ => "mod",
                    }),
                    _ => Tok::Name(name),
                }
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '!' | '<' | '>' if src.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Op(match c {
                    '!' => "!=",
                    '<' => "<=",
                    _ => ">=",
                })
            }
            '=' | '<' | '>' | '+' | '-' | '*' => {
                i += 1;
                Tok::Op(match c {
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    '+' => "+",
                    '-' => "-",
                    _ => "*",
                })
            }
            other => return Err(err(start, format!("不认识的符号“{other}”"))),
        };
        out.push((start, tok));
    }
    Ok(out)
}

/// An expression and the depth of its tree.
type Node = (Expr, usize);

/// A node over children at most `below` deep: refused past the limit, so
/// evaluating (and dropping) a tree never recurses deeper than that.
fn node(at: usize, e: Expr, below: usize) -> Result<Node, ExprError> {
    if below + 1 > MAX_DEPTH {
        return Err(err(at, format!("嵌套超过 {MAX_DEPTH} 层")));
    }
    Ok((e, below + 1))
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn pos(&self) -> usize {
        self.toks.get(self.at).map_or(self.end, |t| t.0)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.1)
    }

    fn op(&self) -> Option<&'static str> {
        match self.peek() {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn deeper(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(self.pos(), format!("嵌套超过 {MAX_DEPTH} 层")));
        }
        Ok(())
    }

    /// One level of left-associative binary operators. A long chain makes
    /// a deep tree: its depth counts against the limit as it grows.
    fn level(
        &mut self,
        ops: &[(&str, Op)],
        next: fn(&mut Parser) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        let mut left = next(self)?;
        while let Some(&(_, op)) = self.op().and_then(|o| ops.iter().find(|(s, _)| *s == o)) {
            let at = self.pos();
            self.at += 1;
            let right = next(self)?;
            left = node(
                at,
                Expr::Bin(op, Box::new(left.0), Box::new(right.0)),
                left.1.max(right.1),
            )?;
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        self.level(&[("or", Op::Or)], Parser::and)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        self.level(&[("and", Op::And)], Parser::equality)
    }

    fn equality(&mut self) -> Result<Node, ExprError> {
        self.level(&[("=", Op::Eq), ("!=", Op::Ne)], Parser::relational)
    }

    fn relational(&mut self) -> Result<Node, ExprError> {
        self.level(
            &[("<", Op::Lt), ("<=", Op::Le), (">", Op::Gt), (">=", Op::Ge)],
            Parser::additive,
        )
    }

    fn additive(&mut self) -> Result<Node, ExprError> {
        self.level(&[("+", Op::Add), ("-", Op::Sub)], Parser::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Node, ExprError> {
        self.level(
            &[("*", Op::Mul), ("div", Op::Div), ("mod", Op::Mod)],
            Parser::unary,
        )
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if self.op() == Some("-") {
            let at = self.pos();
            self.at += 1;
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return node(at, Expr::Neg(Box::new(inner.0)), inner.1);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let at = self.pos();
        let Some((_, tok)) = self.toks.get(self.at).cloned() else {
            return Err(err(at, "表达式不完整"));
        };
        self.at += 1;
        match tok {
            Tok::Str(s) => Ok((Expr::Str(s), 1)),
            Tok::Num(n) => Ok((Expr::Num(n), 1)),
            Tok::Ref(r) => Ok((Expr::Ref(r), 1)),
            Tok::Dot => Ok((Expr::Current, 1)),
            Tok::LParen => {
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
                self.expect(Tok::RParen, "缺少 )")?;
                Ok(inner)
            }
            Tok::Name(name) => {
                let (func, arity) =
                    Func::named(&name).ok_or_else(|| err(at, format!("不支持的函数“{name}”")))?;
                self.expect(Tok::LParen, "函数名后须有 (")?;
                self.deeper()?;
                let mut args = Vec::new();
                let mut deepest = 0;
                if self.peek() != Some(&Tok::RParen) {
                    loop {
                        let (arg, d) = self.or()?;
                        deepest = deepest.max(d);
                        args.push(arg);
                        if self.peek() == Some(&Tok::Comma) {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.depth -= 1;
                self.expect(Tok::RParen, "缺少 )")?;
                if args.len() != arity {
                    return Err(err(at, format!("{name}() 需要 {arity} 个参数")));
                }
                if func == Func::Count && !matches!(args[0], Expr::Ref(_)) {
                    return Err(err(at, "count() 的参数须是 ${重复组}"));
                }
                node(at, Expr::Call(func, args), deepest)
            }
            _ => Err(err(at, "这里缺少一个值")),
        }
    }

    fn expect(&mut self, want: Tok, reason: &str) -> Result<(), ExprError> {
        if self.peek() == Some(&want) {
            self.at += 1;
            Ok(())
        } else {
            Err(err(self.pos(), reason))
        }
    }
}

/// Parses an expression, or says where and why it cannot be one.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    if src.chars().nth(MAX_LEN).is_some() {
        return Err(err(MAX_LEN, format!("表达式超过 {MAX_LEN} 个字符")));
    }
    let chars: Vec<char> = src.chars().collect();
    let mut p = Parser {
        toks: tokens(&chars)?,
        at: 0,
        end: chars.len(),
        depth: 0,
    };
    if p.toks.is_empty() {
        return Err(err(0, "表达式是空的"));
    }
    let (e, _) = p.or()?;
    if p.at < p.toks.len() {
        return Err(err(p.pos(), "多出了内容"));
    }
    Ok(e)
}
