//! The sign-in and password pages.

use maud::{Markup, html};

use super::i18n::Lang;
use super::layout::{self, Nav, Shell};
use crate::store::ConsoleSession;

/// The sign-in form, with a message when the last attempt failed.
pub(super) fn login(lang: Lang, message: Option<&str>) -> Markup {
    layout::bare(
        lang,
        lang.t("登录", "Sign in"),
        "/console/login",
        html! {
            form.card method="post" action="/console/login" {
                h1 { (lang.t("登录", "Sign in")) }
                @if let Some(message) = message { p.error { (message) } }
                label for="name" { (lang.t("用户名", "Name")) }
                input #name name="name" autocomplete="username" required;
                label for="password" { (lang.t("密码", "Password")) }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { (lang.t("登录", "Sign in")) }
            }
        },
    )
}

/// Changing the password (the first login must).
pub(super) fn password(session: &ConsoleSession, lang: Lang, message: Option<&str>) -> Markup {
    let shell = Shell {
        session,
        lang,
        here: "/console/password",
    };
    layout::page(
        &shell,
        lang.t("修改密码", "Change password"),
        Nav::None,
        html! {
            form.card method="post" action="/console/password" {
                h1 { (lang.t("修改密码", "Change password")) }
                @if session.user.must_change {
                    p.note { (lang.t("首次登录请先设置新密码。", "Set a new password before going on.")) }
                }
                @if let Some(message) = message { p.error { (message) } }
                input type="hidden" name="csrf" value=(session.csrf_token);
                label for="current" { (lang.t("当前密码", "Current password")) }
                input #current name="current" type="password" autocomplete="current-password" required;
                label for="new" { (lang.t("新密码（至少 10 个字符）", "New password (10 characters or more)")) }
                input #new name="new" type="password" autocomplete="new-password" required;
                button type="submit" { (lang.t("保存", "Save")) }
            }
        },
    )
}
