//! The tree a parsed expression is, and how it prints back.
//!
//! Operators of one precedence level that follow each other
//! (`${a} + ${b} - ${c}`) make one [`Node::Chain`], evaluated left to right,
//! rather than a left-leaning tree of pairs. So the depth of the tree grows
//! only with parentheses, calls and unary minus, which the parser bounds:
//! a form that sums forty incomes evaluates without deep recursion.

use std::fmt;

/// One node of an expression's tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// A number literal, never negative, NaN nor infinite (a minus sign is a
    /// [`Node::Negate`]).
    Number(f64),
    /// A string literal. The parser never makes one holding both `'` and `"`,
    /// since XPath strings have no escapes.
    Text(String),
    /// `${name}`.
    Reference(String),
    /// `.`, the answer of the question being checked.
    Current,
    /// A bare name (`state`): in a `choice_filter`, the column of that name
    /// of the choice being filtered. Only [`parse_filter`] makes one.
    ///
    /// [`parse_filter`]: super::Expr::parse_filter
    Field(String),
    /// Unary minus.
    Negate(Box<Node>),
    /// `first op1 operand1 op2 operand2 …`, every operator of one level,
    /// applied from the left. `rest` is never empty.
    Chain {
        first: Box<Node>,
        rest: Vec<(Operator, Node)>,
    },
    /// A call of a built-in function, with a number of arguments it accepts.
    Call {
        function: Function,
        arguments: Vec<Node>,
    },
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Or,
    And,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

impl Operator {
    /// Its precedence level, as in XPath 1.0: 0 (`or`) binds loosest, then
    /// `and`, equality, relational, additive, and 5 (`*`, `div`, `mod`).
    pub(crate) fn level(self) -> usize {
        match self {
            Operator::Or => 0,
            Operator::And => 1,
            Operator::Equal | Operator::NotEqual => 2,
            Operator::Less
            | Operator::LessOrEqual
            | Operator::Greater
            | Operator::GreaterOrEqual => 3,
            Operator::Add | Operator::Subtract => 4,
            Operator::Multiply | Operator::Divide | Operator::Modulo => 5,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Operator::Or => "or",
            Operator::And => "and",
            Operator::Equal => "=",
            Operator::NotEqual => "!=",
            Operator::Less => "<",
            Operator::LessOrEqual => "<=",
            Operator::Greater => ">",
            Operator::GreaterOrEqual => ">=",
            Operator::Add => "+",
            Operator::Subtract => "-",
            Operator::Multiply => "*",
            Operator::Divide => "div",
            Operator::Modulo => "mod",
        }
    }
}

/// The built-in functions: those real XLSForms use in `relevant`,
/// `constraint`, `calculation`, `required`, `default` and `choice_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Selected,
    CountSelected,
    If,
    Coalesce,
    Concat,
    StringLength,
    Regex,
    Today,
    Int,
    Round,
    Number,
    Date,
    Not,
    True,
    False,
    Sum,
    Count,
    String,
    Boolean,
    Contains,
    StartsWith,
    Substr,
    Min,
    Max,
    IndexedRepeat,
    Position,
    ChoiceName,
    Pulldata,
    Uuid,
    Once,
    FormatDate,
    FormatDateTime,
    Now,
    DecimalDateTime,
    DecimalTime,
    DateTime,
    Pow,
    Log,
    Log10,
    Abs,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sqrt,
    Exp,
    Exp10,
    Pi,
    Ceiling,
    Floor,
    NormalizeSpace,
    Translate,
    SubstringBefore,
    SubstringAfter,
    Substring,
    EndsWith,
    SelectedAt,
    CountNonEmpty,
    Join,
    BooleanFromString,
    Random,
}

impl Function {
    /// Every function, for lookups by name and for tests.
    pub(crate) const ALL: [Function; 64] = [
        Function::Selected,
        Function::CountSelected,
        Function::If,
        Function::Coalesce,
        Function::Concat,
        Function::StringLength,
        Function::Regex,
        Function::Today,
        Function::Int,
        Function::Round,
        Function::Number,
        Function::Date,
        Function::Not,
        Function::True,
        Function::False,
        Function::Sum,
        Function::Count,
        Function::String,
        Function::Boolean,
        Function::Contains,
        Function::StartsWith,
        Function::Substr,
        Function::Min,
        Function::Max,
        Function::IndexedRepeat,
        Function::Position,
        Function::ChoiceName,
        Function::Pulldata,
        Function::Uuid,
        Function::Once,
        Function::FormatDate,
        Function::FormatDateTime,
        Function::Now,
        Function::DecimalDateTime,
        Function::DecimalTime,
        Function::DateTime,
        Function::Pow,
        Function::Log,
        Function::Log10,
        Function::Abs,
        Function::Sin,
        Function::Cos,
        Function::Tan,
        Function::Asin,
        Function::Acos,
        Function::Atan,
        Function::Atan2,
        Function::Sqrt,
        Function::Exp,
        Function::Exp10,
        Function::Pi,
        Function::Ceiling,
        Function::Floor,
        Function::NormalizeSpace,
        Function::Translate,
        Function::SubstringBefore,
        Function::SubstringAfter,
        Function::Substring,
        Function::EndsWith,
        Function::SelectedAt,
        Function::CountNonEmpty,
        Function::Join,
        Function::BooleanFromString,
        Function::Random,
    ];

    /// The function spelt `name`, if there is one.
    pub(crate) fn from_name(name: &str) -> Option<Function> {
        Function::ALL
            .into_iter()
            .find(|function| function.name() == name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Function::Selected => "selected",
            Function::CountSelected => "count-selected",
            Function::If => "if",
            Function::Coalesce => "coalesce",
            Function::Concat => "concat",
            Function::StringLength => "string-length",
            Function::Regex => "regex",
            Function::Today => "today",
            Function::Int => "int",
            Function::Round => "round",
            Function::Number => "number",
            Function::Date => "date",
            Function::Not => "not",
            Function::True => "true",
            Function::False => "false",
            Function::Sum => "sum",
            Function::Count => "count",
            Function::String => "string",
            Function::Boolean => "boolean",
            Function::Contains => "contains",
            Function::StartsWith => "starts-with",
            Function::Substr => "substr",
            Function::Min => "min",
            Function::Max => "max",
            Function::IndexedRepeat => "indexed-repeat",
            Function::Position => "position",
            Function::ChoiceName => "jr:choice-name",
            Function::Pulldata => "pulldata",
            Function::Uuid => "uuid",
            Function::Once => "once",
            Function::FormatDate => "format-date",
            Function::FormatDateTime => "format-date-time",
            Function::Now => "now",
            Function::DecimalDateTime => "decimal-date-time",
            Function::DecimalTime => "decimal-time",
            Function::DateTime => "date-time",
            Function::Pow => "pow",
            Function::Log => "log",
            Function::Log10 => "log10",
            Function::Abs => "abs",
            Function::Sin => "sin",
            Function::Cos => "cos",
            Function::Tan => "tan",
            Function::Asin => "asin",
            Function::Acos => "acos",
            Function::Atan => "atan",
            Function::Atan2 => "atan2",
            Function::Sqrt => "sqrt",
            Function::Exp => "exp",
            Function::Exp10 => "exp10",
            Function::Pi => "pi",
            Function::Ceiling => "ceiling",
            Function::Floor => "floor",
            Function::NormalizeSpace => "normalize-space",
            Function::Translate => "translate",
            Function::SubstringBefore => "substring-before",
            Function::SubstringAfter => "substring-after",
            Function::Substring => "substring",
            Function::EndsWith => "ends-with",
            Function::SelectedAt => "selected-at",
            Function::CountNonEmpty => "count-non-empty",
            Function::Join => "join",
            Function::BooleanFromString => "boolean-from-string",
            Function::Random => "random",
        }
    }

    /// The fewest and the most arguments it takes (`None`: no upper bound).
    pub(crate) fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Today | Function::True | Function::False => (0, Some(0)),
            Function::CountSelected
            | Function::StringLength
            | Function::Int
            | Function::Number
            | Function::Date
            | Function::Not
            | Function::Sum
            | Function::Count
            | Function::String
            | Function::Boolean => (1, Some(1)),
            Function::Round => (1, Some(2)),
            Function::Selected
            | Function::Coalesce
            | Function::Regex
            | Function::Contains
            | Function::StartsWith => (2, Some(2)),
            Function::Substr => (2, Some(3)),
            Function::If => (3, Some(3)),
            Function::Concat => (0, None),
            Function::Min | Function::Max => (1, None),
            Function::IndexedRepeat => (3, None),
            Function::Position => (0, Some(0)),
            Function::ChoiceName => (2, Some(2)),
            Function::Pulldata => (4, Some(4)),
            Function::Uuid => (0, Some(1)),
            Function::Once => (1, Some(1)),
            Function::FormatDate => (2, Some(2)),
            Function::FormatDateTime => (2, Some(2)),
            Function::Now => (0, Some(0)),
            Function::DecimalDateTime => (1, Some(1)),
            Function::DecimalTime => (1, Some(1)),
            Function::DateTime => (1, Some(1)),
            Function::Pow => (2, Some(2)),
            Function::Log => (1, Some(1)),
            Function::Log10 => (1, Some(1)),
            Function::Abs => (1, Some(1)),
            Function::Sin => (1, Some(1)),
            Function::Cos => (1, Some(1)),
            Function::Tan => (1, Some(1)),
            Function::Asin => (1, Some(1)),
            Function::Acos => (1, Some(1)),
            Function::Atan => (1, Some(1)),
            Function::Atan2 => (2, Some(2)),
            Function::Sqrt => (1, Some(1)),
            Function::Exp => (1, Some(1)),
            Function::Exp10 => (1, Some(1)),
            Function::Pi => (0, Some(0)),
            Function::Ceiling => (1, Some(1)),
            Function::Floor => (1, Some(1)),
            Function::NormalizeSpace => (1, Some(1)),
            Function::Translate => (3, Some(3)),
            Function::SubstringBefore => (2, Some(2)),
            Function::SubstringAfter => (2, Some(2)),
            Function::Substring => (2, Some(3)),
            Function::EndsWith => (2, Some(2)),
            Function::SelectedAt => (2, Some(2)),
            Function::CountNonEmpty => (1, Some(1)),
            Function::Join => (2, None),
            Function::BooleanFromString => (1, Some(1)),
            Function::Random => (0, Some(0)),
        }
    }

    /// "takes 2 arguments", for an arity error.
    pub(crate) fn describe_arity(self) -> String {
        let plural = |count: usize| if count == 1 { "argument" } else { "arguments" };
        match self.arity() {
            (0, Some(0)) => "takes no arguments".to_owned(),
            (least, Some(most)) if least == most => format!("takes {least} {}", plural(least)),
            (least, Some(most)) => format!("takes {least} or {most} {}", plural(most)),
            (least, None) => format!("takes at least {least} {}", plural(least)),
        }
    }
}

impl Node {
    /// The level of a chain, `None` for anything else.
    fn chain_level(&self) -> Option<usize> {
        match self {
            Node::Chain { rest, .. } => rest.first().map(|(operator, _)| operator.level()),
            _ => None,
        }
    }

    /// Writes `node` as an operand of an operator of `level`, in parentheses
    /// when it is a chain that binds no tighter (so it reads back as the same
    /// tree: chains of one level are flat, and a nested one was bracketed).
    fn write_operand(f: &mut fmt::Formatter<'_>, node: &Node, level: usize) -> fmt::Result {
        match node.chain_level() {
            Some(inner) if inner <= level => {
                f.write_str("(")?;
                fmt::Display::fmt(node, f)?;
                f.write_str(")")
            }
            _ => fmt::Display::fmt(node, f),
        }
    }
}

/// The canonical spelling: single spaces around binary operators, `, `
/// between arguments, parentheses only where the tree needs them, strings in
/// single quotes unless they hold one.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Number(number) => write!(f, "{number}"),
            Node::Text(text) if text.contains('\'') => write!(f, "\"{text}\""),
            Node::Text(text) => write!(f, "'{text}'"),
            Node::Reference(name) => write!(f, "${{{name}}}"),
            Node::Current => f.write_str("."),
            Node::Field(name) => f.write_str(name),
            Node::Negate(operand) => {
                f.write_str("-")?;
                // Any chain binds looser than unary minus.
                Node::write_operand(f, operand, usize::MAX)
            }
            Node::Chain { first, rest } => {
                let level = self.chain_level().unwrap_or_default();
                Node::write_operand(f, first, level)?;
                for (operator, operand) in rest {
                    write!(f, " {} ", operator.as_str())?;
                    Node::write_operand(f, operand, level)?;
                }
                Ok(())
            }
            Node::Call {
                function: Function::Position,
                ..
            } => f.write_str("position(..)"),
            Node::Call {
                function,
                arguments,
            } => {
                write!(f, "{}(", function.name())?;
                for (index, argument) in arguments.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    fmt::Display::fmt(argument, f)?;
                }
                f.write_str(")")
            }
        }
    }
}
