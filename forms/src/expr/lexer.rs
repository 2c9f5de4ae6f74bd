//! Splitting an expression's text into tokens, each with the character
//! offset where it starts.
//!
//! Names may hold `-` (`count-selected`) and `:` (`jr:choice-name`), but
//! only when a letter follows, so `2 div-1` still reads as `2 div -1`. Whether `div`, `mod`, `and` or `or`
//! is an operator is for the parser to say: here they are plain names.

use super::ParseError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Number(f64),
    Text(String),
    Reference(String),
    Dot,
    /// `..`, the parent: only `position(..)` takes it.
    DotDot,
    Name(String),
    LeftParen,
    RightParen,
    Comma,
    Plus,
    Minus,
    Star,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    /// After the last token; its position is the source's length.
    End,
}

/// A token and the 0-based character offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) position: usize,
}

impl TokenKind {
    /// How an error message names the token.
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Number(number) => format!("the number `{number}`"),
            TokenKind::Text(_) => "a text in quotes".to_owned(),
            TokenKind::Reference(name) => format!("`${{{name}}}`"),
            TokenKind::Dot => "`.`".to_owned(),
            TokenKind::DotDot => "`..`".to_owned(),
            TokenKind::Name(name) => format!("`{name}`"),
            TokenKind::LeftParen => "`(`".to_owned(),
            TokenKind::RightParen => "`)`".to_owned(),
            TokenKind::Comma => "`,`".to_owned(),
            TokenKind::Plus => "`+`".to_owned(),
            TokenKind::Minus => "`-`".to_owned(),
            TokenKind::Star => "`*`".to_owned(),
            TokenKind::Equal => "`=`".to_owned(),
            TokenKind::NotEqual => "`!=`".to_owned(),
            TokenKind::Less => "`<`".to_owned(),
            TokenKind::LessOrEqual => "`<=`".to_owned(),
            TokenKind::Greater => "`>`".to_owned(),
            TokenKind::GreaterOrEqual => "`>=`".to_owned(),
            TokenKind::End => "the end of the expression".to_owned(),
        }
    }
}

/// Whether `c` may start a name (a function's or a question's).
pub(crate) fn starts_name(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// The tokens of `source`, ending with [`TokenKind::End`].
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let next = chars.get(index + 1).copied();
        let start = index;
        let simple = |kind: TokenKind| Token {
            kind,
            position: start,
        };
        let token = match c {
            c if c.is_whitespace() => {
                index += 1;
                continue;
            }
            '(' => simple(TokenKind::LeftParen),
            ')' => simple(TokenKind::RightParen),
            ',' => simple(TokenKind::Comma),
            '+' => simple(TokenKind::Plus),
            '-' => simple(TokenKind::Minus),
            '*' => simple(TokenKind::Star),
            '=' if next == Some('=') => {
                return Err(error(start, "compare with `=`, not `==`"));
            }
            '=' => simple(TokenKind::Equal),
            '!' if next == Some('=') => {
                index += 1;
                simple(TokenKind::NotEqual)
            }
            '!' => {
                return Err(error(
                    start,
                    "`!` must be followed by `=`; to negate, write not(…)",
                ));
            }
            '<' if next == Some('=') => {
                index += 1;
                simple(TokenKind::LessOrEqual)
            }
            '<' => simple(TokenKind::Less),
            '>' if next == Some('=') => {
                index += 1;
                simple(TokenKind::GreaterOrEqual)
            }
            '>' => simple(TokenKind::Greater),
            '\'' | '"' | '‘' | '’' | '“' | '”' => {
                let (text, end) = text(&chars, start)?;
                index = end;
                tokens.push(simple(TokenKind::Text(text)));
                continue;
            }
            '$' => {
                let (name, end) = reference(&chars, start)?;
                index = end;
                tokens.push(simple(TokenKind::Reference(name)));
                continue;
            }
            '.' if next == Some('.') => {
                index += 1;
                simple(TokenKind::DotDot)
            }
            '/' if next.is_some_and(starts_name) => {
                let (name, end) = absolute_path(&chars, start);
                index = end;
                tokens.push(simple(TokenKind::Reference(name)));
                continue;
            }
            '.' if !next.is_some_and(|c| c.is_ascii_digit()) => simple(TokenKind::Dot),
            c if c == '.' || c.is_ascii_digit() => {
                let (number, end) = number(&chars, start)?;
                index = end;
                tokens.push(simple(TokenKind::Number(number)));
                continue;
            }
            c if starts_name(c) => {
                let end = name_end(&chars, start);
                let name: String = chars[start..end].iter().collect();
                index = end;
                tokens.push(simple(TokenKind::Name(name)));
                continue;
            }
            other => return Err(error(start, &unexpected(other))),
        };
        tokens.push(token);
        index += 1;
    }
    tokens.push(Token {
        kind: TokenKind::End,
        position: chars.len(),
    });
    Ok(tokens)
}

fn error(position: usize, message: &str) -> ParseError {
    ParseError {
        position,
        message: message.to_owned(),
    }
}

/// The message for a character that starts no token, with a hint for the
/// usual slips (XPath paths, C operators, full-width punctuation typed with
/// a Chinese input method).
fn unexpected(c: char) -> String {
    let hint = match c {
        '/' => "paths are not supported: refer to a question as ${name}, and divide with `div`",
        '|' => "`|` (node-set union) is not supported; for “or” write `or`",
        '&' => "for “and” write `and`",
        '[' | ']' => "predicates `[…]` are not supported",
        '@' => "attributes are not supported",
        ':' => "a `:` belongs inside a name such as `jr:choice-name`",
        '{' | '}' => "a reference is written ${name}",
        '（' | '）' | '，' | '＝' | '＋' | '－' | '＜' | '＞' => {
            "a full-width character: use the ASCII one"
        }
        _ => "",
    };
    if hint.is_empty() {
        format!("unexpected character `{c}`")
    } else {
        format!("unexpected character `{c}`: {hint}")
    }
}

/// A string literal starting with the quote at `start`: its text and the
/// index after its closing quote. XPath strings have no escapes. A
/// typographic quote (‘…’, “…”, as a word processor turns `'` and `"`
/// into) quotes as its plain one does, and any of its kind closes it
/// (forms write ’yes’).
fn text(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let quote = chars[start];
    let closes = |c: char| match quote {
        '‘' | '’' => matches!(c, '‘' | '’'),
        '“' | '”' => matches!(c, '“' | '”'),
        _ => c == quote,
    };
    let body = start + 1;
    match chars[body..].iter().position(|&c| closes(c)) {
        Some(length) => Ok((
            chars[body..body + length].iter().collect(),
            body + length + 1,
        )),
        None => Err(error(start, &format!("text is not closed with {quote}"))),
    }
}

/// `${name}` starting at `start`: the name and the index after `}`.
fn reference(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    if chars.get(start + 1) != Some(&'{') {
        return Err(error(start, "`$` must start a reference such as ${name}"));
    }
    let body = start + 2;
    let Some(length) = chars[body..].iter().position(|&c| c == '}') else {
        return Err(error(start, "`${` is not closed with `}`"));
    };
    let name = &chars[body..body + length];
    match name.first() {
        None => return Err(error(start, "`${}` names no question")),
        Some(&first) if !starts_name(first) => {
            return Err(error(body, "a question's name starts with a letter or `_`"));
        }
        Some(_) => {}
    }
    if let Some(bad) = name
        .iter()
        .position(|&c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(error(
            body + bad,
            &format!(
                "`{}` cannot be part of a question's name (letters, digits, `_`, `-`, `.`)",
                name[bad]
            ),
        ));
    }
    Ok((name.iter().collect(), body + length + 1))
}

/// An absolute path `/data/group/name` starting at `start`, which pyxform
/// leaves as written: the question it ends with (checked like `${name}`),
/// and the index after it.
fn absolute_path(chars: &[char], start: usize) -> (String, usize) {
    let mut end = start;
    let mut last = String::new();
    while chars.get(end) == Some(&'/') && chars.get(end + 1).is_some_and(|&c| starts_name(c)) {
        let name_start = end + 1;
        end = name_start + 1;
        while chars
            .get(end)
            .is_some_and(|&c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            end += 1;
        }
        last = chars[name_start..end].iter().collect();
    }
    (last, end)
}

/// A number (`3`, `1.5`, `3.`, `.5`) starting at `start`: its value and the
/// index after it.
fn number(chars: &[char], start: usize) -> Result<(f64, usize), ParseError> {
    let mut end = start;
    while chars.get(end).is_some_and(char::is_ascii_digit) {
        end += 1;
    }
    if chars.get(end) == Some(&'.') {
        end += 1;
        while chars.get(end).is_some_and(char::is_ascii_digit) {
            end += 1;
        }
    }
    let lexeme: String = chars[start..end].iter().collect();
    match lexeme.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok((number, end)),
        _ => Err(error(start, "the number is too large")),
    }
}

/// The index after the name starting at `start`: letters, digits and `_`,
/// and `-` or `:` when a letter or `_` follows it (`jr:choice-name`).
fn name_end(chars: &[char], start: usize) -> usize {
    let mut end = start + 1;
    loop {
        match chars.get(end) {
            Some(&c) if c.is_alphanumeric() || c == '_' => end += 1,
            Some('-' | ':') if chars.get(end + 1).is_some_and(|&c| starts_name(c)) => end += 1,
            _ => return end,
        }
    }
}
