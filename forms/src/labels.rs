//! Texts in several languages: a question's label, its hint, a choice's
//! label.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Text by language: `{"zh-CN": "家中常住人数", "en": "Members at home"}`.
///
/// Keys are language tags (`zh-CN`, `en`). The key [`Labels::DEFAULT`] holds
/// a text written without a language (XLSForm's plain `label` column when the
/// form names no `default_language`). Empty texts count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// The key of a text written without a language.
    pub const DEFAULT: &'static str = "default";
    /// The language preferred when the asked one is missing: the cadres'.
    pub const PREFERRED: &'static str = "zh-CN";

    pub fn new() -> Labels {
        Labels::default()
    }

    /// One text without a language.
    pub fn plain(text: impl Into<String>) -> Labels {
        Labels::new().with(Labels::DEFAULT, text)
    }

    /// These labels with the text for `language` set.
    #[must_use]
    pub fn with(mut self, language: impl Into<String>, text: impl Into<String>) -> Labels {
        self.insert(language, text);
        self
    }

    /// Sets the text for `language`, returning the one it replaces.
    pub fn insert(
        &mut self,
        language: impl Into<String>,
        text: impl Into<String>,
    ) -> Option<String> {
        self.0.insert(language.into(), text.into())
    }

    /// The text to show someone who reads `language`: that language (also
    /// `zh` for `zh-CN`, `en-US` for `en`), else zh-CN, else the text without
    /// a language, else any text there is.
    pub fn get(&self, language: Option<&str>) -> Option<&str> {
        language
            .and_then(|language| self.lookup(language))
            .or_else(|| self.lookup(Labels::PREFERRED))
            .or_else(|| self.text(Labels::DEFAULT))
            .or_else(|| self.texts().next().map(|(_, text)| text))
    }

    /// The text stored under exactly `language`, if not empty.
    pub fn text(&self, language: &str) -> Option<&str> {
        self.0
            .get(language)
            .map(String::as_str)
            .filter(|text| !text.is_empty())
    }

    /// Whether no language has a text.
    pub fn is_empty(&self) -> bool {
        self.texts().next().is_none()
    }

    /// The languages present (including [`Labels::DEFAULT`]), in key order.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.texts().map(|(language, _)| language)
    }

    /// `(language, text)` pairs with a non-empty text, in key order.
    pub fn texts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter(|(_, text)| !text.is_empty())
            .map(|(language, text)| (language.as_str(), text.as_str()))
    }

    /// Exact key, then the same tag in another case, then the same primary
    /// language (`zh` ↔ `zh-CN`).
    fn lookup(&self, language: &str) -> Option<&str> {
        if let Some(text) = self.text(language) {
            return Some(text);
        }
        if let Some((_, text)) = self
            .texts()
            .find(|(key, _)| key.eq_ignore_ascii_case(language))
        {
            return Some(text);
        }
        let primary = primary_subtag(language);
        self.texts()
            .find(|(key, _)| *key != Labels::DEFAULT && primary_subtag(key) == primary)
            .map(|(_, text)| text)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Labels {
        Labels(
            pairs
                .into_iter()
                .map(|(language, text)| (language.into(), text.into()))
                .collect(),
        )
    }
}

fn primary_subtag(language: &str) -> String {
    language
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> Labels {
        Labels::new()
            .with("zh-CN", "家中常住人数")
            .with("en", "Members at home")
    }

    #[test]
    fn asked_language_wins() {
        assert_eq!(both().get(Some("en")), Some("Members at home"));
        assert_eq!(both().get(Some("zh-CN")), Some("家中常住人数"));
    }

    #[test]
    fn same_language_in_another_spelling_is_found() {
        assert_eq!(both().get(Some("EN")), Some("Members at home"));
        assert_eq!(both().get(Some("en-US")), Some("Members at home"));
        assert_eq!(both().get(Some("zh")), Some("家中常住人数"));
    }

    #[test]
    fn falls_back_to_chinese_then_plain_then_any() {
        assert_eq!(both().get(Some("fr")), Some("家中常住人数"));
        assert_eq!(both().get(None), Some("家中常住人数"));
        let plain = Labels::plain("Members").with("en", "Members (en)");
        assert_eq!(plain.get(Some("fr")), Some("Members"));
        let only_english = Labels::new().with("en", "Members");
        assert_eq!(only_english.get(Some("zh-CN")), Some("Members"));
        assert_eq!(Labels::new().get(Some("en")), None);
    }

    #[test]
    fn empty_texts_count_as_absent() {
        let labels = Labels::new().with("en", "").with("zh-CN", "是");
        assert_eq!(labels.get(Some("en")), Some("是"));
        assert!(Labels::new().with("en", "").is_empty());
    }

    #[test]
    fn serialises_as_a_plain_map() {
        let json = serde_json::to_value(both()).expect("labels serialise");
        assert_eq!(
            json,
            serde_json::json!({"en": "Members at home", "zh-CN": "家中常住人数"})
        );
    }
}
