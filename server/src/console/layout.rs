//! The shell every console page shares: the header with the account and
//! the sign-out form, the navigation, the language switch, breadcrumbs and
//! the pager. One stylesheet, embedded; no script (ADR 0010).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::i18n::Lang;
use crate::store::ConsoleSession;
use crate::store::browse::AreaNode;

const STYLE: &str = include_str!("console.css");

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Progress,
    Households,
    Risk,
    ComingHome,
    Review,
    Cadres,
    Devices,
    Forms,
    Export,
}

/// What every signed-in page needs to draw its shell.
pub struct Shell<'a> {
    pub session: &'a ConsoleSession,
    pub lang: Lang,
    /// This page's path and query, to come back to after a language switch.
    pub here: &'a str,
}

/// A page outside a session (sign-in).
pub fn bare(lang: Lang, title: &str, here: &str, body: Markup) -> Markup {
    document(lang, title, here, None, Nav::None, body)
}

/// A signed-in page.
pub fn page(shell: &Shell<'_>, title: &str, nav: Nav, body: Markup) -> Markup {
    document(shell.lang, title, shell.here, Some(shell), nav, body)
}

fn document(
    lang: Lang,
    title: &str,
    here: &str,
    shell: Option<&Shell<'_>>,
    active: Nav,
    body: Markup,
) -> Markup {
    let back = urlencode(here);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Doorstep" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    a.brand href="/console/" { "Doorstep " (lang.t("入户核查", "household checks")) }
                    span.lang {
                        @if lang == Lang::Zh {
                            a #lang-en href={ "/console/lang?to=en&back=" (back) } { "English" }
                        } @else {
                            a #lang-zh href={ "/console/lang?to=zh&back=" (back) } { "中文" }
                        }
                    }
                    @if let Some(shell) = shell {
                        form.signout method="post" action="/console/logout" {
                            span.who { (shell.session.user.name) }
                            input type="hidden" name="csrf" value=(shell.session.csrf_token);
                            button type="submit" { (lang.t("退出", "Sign out")) }
                        }
                    }
                }
                @if let Some(shell) = shell {
                    (navigation(shell, active))
                }
                main { (body) }
            }
        }
    }
}

fn navigation(shell: &Shell<'_>, active: Nav) -> Markup {
    let lang = shell.lang;
    let admin = shell.session.user.area_code.is_none();
    let mut items = vec![
        (
            Nav::Progress,
            "/console/progress",
            lang.t("进度", "Progress"),
        ),
        (
            Nav::Households,
            "/console/households",
            lang.t("农户", "Households"),
        ),
        (Nav::Risk, "/console/risk", lang.t("监测对象", "At risk")),
        (
            Nav::ComingHome,
            "/console/coming-home",
            lang.t("返乡", "Coming home"),
        ),
        (Nav::Review, "/console/review", lang.t("复核", "Review")),
        (Nav::Cadres, "/console/cadres", lang.t("干部", "Cadres")),
        (Nav::Devices, "/console/devices", lang.t("设备", "Devices")),
    ];
    if admin {
        items.push((Nav::Forms, "/console/forms", lang.t("表单", "Forms")));
    }
    items.push((Nav::Export, "/console/export", lang.t("导出", "Export")));
    html! {
        nav.sections {
            @for (nav, href, text) in items {
                a href=(href) class=[(nav == active).then_some("active")] { (text) }
            }
        }
    }
}

/// The breadcrumb from the top of the caller's scope to an area; each
/// step links to `base?area=CODE`.
pub fn crumbs(
    lang: Lang,
    base: &str,
    path: &[AreaNode],
    admin: bool,
    tail: Option<&str>,
) -> Markup {
    html! {
        nav #crumbs {
            @if admin {
                a href=(base) { (lang.t("全部", "All areas")) }
            }
            @for (index, node) in path.iter().enumerate() {
                @if admin || index > 0 { " › " }
                a href={ (base) "?area=" (urlencode(&node.code)) } { (node.name) }
            }
            @if let Some(tail) = tail {
                " › " span { (tail) }
            }
        }
    }
}

/// Previous and next links for a list of `total` rows shown `size` at a
/// time, on page `number`; `link(n)` is page n's address.
pub fn pager(
    lang: Lang,
    number: u64,
    size: u64,
    total: u64,
    link: impl Fn(u64) -> String,
) -> Markup {
    let pages = total.div_ceil(size.max(1)).max(1);
    html! {
        nav.pager {
            @if number > 1 {
                a.previous href=(link(number - 1)) { "‹ " (lang.t("上一页", "Previous")) }
            }
            span { (lang.t("第", "Page ")) (number) " / " (pages) (lang.t(" 页", "")) " · "
                (lang.number(total)) (lang.t(" 条", " rows")) }
            @if number < pages {
                a.next href=(link(number + 1)) { (lang.t("下一页", "Next")) " ›" }
            }
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A message page (not found, bad request), inside the shell.
pub fn message(shell: &Shell<'_>, title: &str, text: &str) -> Markup {
    page(
        shell,
        title,
        Nav::None,
        html! {
            section.card {
                h1 { (title) }
                p { (text) }
            }
        },
    )
}
