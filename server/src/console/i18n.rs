//! The console's two languages: Chinese first (the officials who use it),
//! English on request. The choice lives in a cookie set by `/console/lang`;
//! each text is written in place as a pair, so a page reads in one language
//! and nothing is looked up by key.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The language cookie's name.
pub const LANG_COOKIE: &str = "doorstep_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The language a request asked for by its cookie; Chinese without one.
    pub fn of(headers: &HeaderMap) -> Lang {
        let english = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == LANG_COOKIE && value == "en");
        if english { Lang::En } else { Lang::Zh }
    }

    /// `zh` in Chinese, `en` in English.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// The `lang` attribute, and the language labels of forms are read in.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// A number with thousands separated (both languages use commas).
    pub fn number(self, value: u64) -> String {
        let digits = value.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                out.push(',');
            }
            out.push(digit);
        }
        out
    }

    /// Yuan, rounded to the yuan.
    pub fn yuan(self, value: f64) -> String {
        let rounded = value.round();
        let sign = if rounded < 0.0 { "-" } else { "" };
        let whole = self.number(rounded.abs() as u64);
        match self {
            Lang::Zh => format!("{sign}{whole} 元"),
            Lang::En => format!("{sign}¥{whole}"),
        }
    }

    /// The label of a risk category (三类对象) of the demo form.
    pub fn risk(self, category: &str) -> String {
        let text = match category {
            "none" => self.t("非监测对象", "not monitored"),
            "unstable" => self.t("脱贫不稳定户", "unstable"),
            "edge" => self.t("边缘易致贫户", "on the edge"),
            "sudden_hardship" => self.t("突发严重困难户", "sudden hardship"),
            other => other,
        };
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(Lang::Zh.number(0), "0");
        assert_eq!(Lang::Zh.number(999), "999");
        assert_eq!(Lang::Zh.number(1000), "1,000");
        assert_eq!(Lang::En.number(1234567), "1,234,567");
        assert_eq!(Lang::En.yuan(-2500.4), "-¥2,500");
        assert_eq!(Lang::Zh.yuan(10000.0), "10,000 元");
    }

    #[test]
    fn the_cookie_picks_english_only_when_it_says_so() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::of(&headers), Lang::Zh);
        headers.insert(COOKIE, "a=b; doorstep_lang=en".parse().expect("a header"));
        assert_eq!(Lang::of(&headers), Lang::En);
        headers.insert(COOKIE, "doorstep_lang=fr".parse().expect("a header"));
        assert_eq!(Lang::of(&headers), Lang::Zh);
    }
}
