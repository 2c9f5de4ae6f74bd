//! A recursive-descent parser over the lexer's tokens, with an operator
//! stack for binary operators so that precedence costs no recursion.
//!
//! Grammar, with XPath 1.0's precedence, loosest first: `or`, `and`,
//! `= !=`, `< <= > >=`, `+ -`, `* div mod`, all left-associative:
//!
//! ```text
//! expression := unary (operator unary)*
//! unary      := "-" unary | primary
//! primary    := number | text | ${name} | "." | name "(" arguments? ")" | "(" expression ")"
//!             | name (a choice's column, in a choice_filter only)
//! ```
//!
//! `position(..)` is the one call that takes `..`.
//!
//! Nesting (parentheses, calls, unary minus) is bounded by [`MAX_DEPTH`] and
//! the source by [`MAX_LENGTH`] characters, so no input can overflow the
//! stack here or when the tree is evaluated, printed or dropped.

use super::ParseError;
use super::ast::{Function, Node, Operator};
use super::lexer::{Token, TokenKind, tokenize};

/// The deepest nesting of parentheses, calls and unary minus accepted.
pub(crate) const MAX_DEPTH: usize = 64;

/// The longest source accepted, in characters.
pub(crate) const MAX_LENGTH: usize = 10_000;

/// Parses a whole expression in which a bare name is an error.
#[cfg(test)]
pub(crate) fn parse(source: &str) -> Result<Node, ParseError> {
    parse_with(source, false)
}

/// Parses a whole expression; with `fields`, a bare name (`state`) is a
/// [`Node::Field`], as in a `choice_filter`.
pub(crate) fn parse_with(source: &str, fields: bool) -> Result<Node, ParseError> {
    if source.chars().nth(MAX_LENGTH).is_some() {
        return Err(ParseError {
            position: MAX_LENGTH,
            message: format!("the expression is longer than {MAX_LENGTH} characters"),
        });
    }
    let tokens = tokenize(source)?;
    if tokens.len() == 1 {
        return Err(ParseError {
            position: 0,
            message: "the expression is empty".to_owned(),
        });
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
        fields,
    };
    let root = parser.expression()?;
    let token = parser.peek();
    match token.kind {
        TokenKind::End => Ok(root),
        TokenKind::RightParen => Err(parser.error_at(token, "`)` closes nothing")),
        _ => Err(parser.error_at(
            token,
            &format!(
                "expected an operator or the end of the expression, found {}",
                token.kind.describe()
            ),
        )),
    }
}

/// A chain of one precedence level still being read: `first`, the operators
/// and operands read so far, and the operator whose operand comes next.
struct OpenChain {
    level: usize,
    first: Node,
    rest: Vec<(Operator, Node)>,
    pending: Operator,
}

impl OpenChain {
    /// The finished chain, `operand` its last operand.
    fn close(mut self, operand: Node) -> Node {
        self.rest.push((self.pending, operand));
        Node::Chain {
            first: Box::new(self.first),
            rest: self.rest,
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    /// The index of the next token; never past the final `End`.
    next: usize,
    /// How deeply the current position nests.
    depth: usize,
    /// Whether a bare name is a [`Node::Field`].
    fields: bool,
}

impl Parser {
    fn peek(&self) -> &Token {
        // `next` stops at the final `End`, which `tokenize` always adds.
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::End {
            self.next += 1;
        }
        token
    }

    fn error_at(&self, token: &Token, message: &str) -> ParseError {
        ParseError {
            position: token.position,
            message: message.to_owned(),
        }
    }

    /// Steps one level deeper, or fails at `token` when that is too deep.
    fn descend(&mut self, token: &Token) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(
                token,
                &format!("the expression nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    /// A whole expression: operands and binary operators, read without
    /// recursing per precedence level. Each open chain waits on a stack, its
    /// level above the one below it; an operator closes the chains of
    /// tighter levels, extends a chain of its own level, or opens one.
    fn expression(&mut self) -> Result<Node, ParseError> {
        let mut open: Vec<OpenChain> = Vec::new();
        let mut operand = self.unary()?;
        while let Some(operator) = self.operator() {
            self.advance();
            let level = operator.level();
            while let Some(top) = open.pop_if(|top| top.level > level) {
                operand = top.close(operand);
            }
            match open.last_mut() {
                Some(top) if top.level == level => {
                    top.rest.push((top.pending, operand));
                    top.pending = operator;
                }
                _ => open.push(OpenChain {
                    level,
                    first: operand,
                    rest: Vec::new(),
                    pending: operator,
                }),
            }
            operand = self.unary()?;
        }
        while let Some(top) = open.pop() {
            operand = top.close(operand);
        }
        Ok(operand)
    }

    /// The binary operator at the next token, if there is one. `div`, `mod`,
    /// `and` and `or` are operators only here, in operator position.
    fn operator(&self) -> Option<Operator> {
        let operator = match &self.peek().kind {
            TokenKind::Name(name) => match name.as_str() {
                "or" => Operator::Or,
                "and" => Operator::And,
                "div" => Operator::Divide,
                "mod" => Operator::Modulo,
                _ => return None,
            },
            TokenKind::Equal => Operator::Equal,
            TokenKind::NotEqual => Operator::NotEqual,
            TokenKind::Less => Operator::Less,
            TokenKind::LessOrEqual => Operator::LessOrEqual,
            TokenKind::Greater => Operator::Greater,
            TokenKind::GreaterOrEqual => Operator::GreaterOrEqual,
            TokenKind::Plus => Operator::Add,
            TokenKind::Minus => Operator::Subtract,
            TokenKind::Star => Operator::Multiply,
            _ => return None,
        };
        Some(operator)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if self.peek().kind != TokenKind::Minus {
            return self.primary();
        }
        let minus = self.advance();
        self.descend(&minus)?;
        let operand = self.unary()?;
        self.depth -= 1;
        Ok(Node::Negate(Box::new(operand)))
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let token = self.advance();
        match token.kind {
            TokenKind::Number(number) => Ok(Node::Number(number)),
            TokenKind::Text(ref text) => Ok(Node::Text(text.clone())),
            TokenKind::Reference(ref name) => Ok(Node::Reference(name.clone())),
            TokenKind::Dot => Ok(Node::Current),
            TokenKind::LeftParen => {
                self.descend(&token)?;
                let inner = self.expression()?;
                self.depth -= 1;
                let close = self.advance();
                if close.kind != TokenKind::RightParen {
                    return Err(self.error_at(
                        &close,
                        &format!("expected `)`, found {}", close.kind.describe()),
                    ));
                }
                Ok(inner)
            }
            TokenKind::Name(ref name) if self.peek().kind == TokenKind::LeftParen => {
                self.call(&token, name)
            }
            TokenKind::Name(ref name)
                if self.fields && !matches!(name.as_str(), "true" | "false" | "div" | "mod" | "and" | "or") =>
            {
                Ok(Node::Field(name.clone()))
            }
            TokenKind::Name(ref name) => Err(self.error_at(&token, &bare_name(name))),
            TokenKind::DotDot => Err(self.error_at(
                &token,
                "`..` (the parent) is supported only in position(..); refer to a question as ${name}",
            )),
            ref other => Err(self.error_at(
                &token,
                &format!("expected a value, found {}", other.describe()),
            )),
        }
    }

    /// A call of the function `name` (the token `at`), with the next token
    /// its `(`.
    fn call(&mut self, at: &Token, name: &str) -> Result<Node, ParseError> {
        let Some(function) = Function::from_name(name) else {
            return Err(self.error_at(
                at,
                &format!("unknown function `{name}` (docs/forms.md lists those supported)"),
            ));
        };
        let open = self.advance();
        self.descend(&open)?;
        let mut arguments = Vec::new();
        if function == Function::Position && self.peek().kind == TokenKind::DotDot {
            // `position(..)`: the item of the repeat around; no argument.
            self.advance();
            let close = self.advance();
            if close.kind != TokenKind::RightParen {
                return Err(self.error_at(
                    &close,
                    &format!("expected `)`, found {}", close.kind.describe()),
                ));
            }
        } else if self.peek().kind == TokenKind::RightParen {
            self.advance();
        } else {
            loop {
                arguments.push(self.expression()?);
                let separator = self.advance();
                match separator.kind {
                    TokenKind::Comma => continue,
                    TokenKind::RightParen => break,
                    ref other => {
                        return Err(self.error_at(
                            &separator,
                            &format!("expected `,` or `)`, found {}", other.describe()),
                        ));
                    }
                }
            }
        }
        self.depth -= 1;
        let (least, most) = function.arity();
        if arguments.len() < least || most.is_some_and(|most| arguments.len() > most) {
            return Err(self.error_at(
                at,
                &format!(
                    "`{name}` {}, not {}",
                    function.describe_arity(),
                    arguments.len()
                ),
            ));
        }
        if function == Function::IndexedRepeat && arguments.len() % 2 == 0 {
            return Err(self.error_at(
                at,
                "`indexed-repeat` takes a question, then pairs of a repeat and an item number",
            ));
        }
        Ok(Node::Call {
            function,
            arguments,
        })
    }
}

/// The message for a name that is not called, in operand position.
fn bare_name(name: &str) -> String {
    match name {
        "true" | "false" => format!("write `{name}()` for the boolean value"),
        "div" | "mod" | "and" | "or" => format!("expected a value, found the operator `{name}`"),
        _ => format!(
            "a bare name `{name}`: refer to a question as ${{{name}}}, or write text in quotes: '{name}'"
        ),
    }
}
