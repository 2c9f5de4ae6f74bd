//! The console's pages as HTML (maud: compiled, escaped), in Chinese
//! first. One stylesheet, embedded; no script.

use maud::{DOCTYPE, Markup, html};

use crate::store::{ConsoleSession, Role};

const STYLE: &str = "
body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0;background:#f5f6f8;color:#1d232b}
header{background:#1f4e79;color:#fff;padding:.6rem 1rem;display:flex;justify-content:space-between;align-items:center}
main{max-width:40rem;margin:1.5rem auto;padding:0 1rem}
form.card,section.card{background:#fff;border-radius:6px;padding:1.2rem;box-shadow:0 1px 3px #0002}
label{display:block;margin:.6rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}
button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem;background:#1f4e79;color:#fff;border:0;border-radius:4px}
header button{margin:0;background:#fff;color:#1f4e79}
p.error{color:#b00020}p.note{color:#555}
";

fn page(title: &str, session: Option<&ConsoleSession>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Doorstep" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "Doorstep 入户核查" }
                    @if let Some(session) = session {
                        form method="post" action="/console/logout" {
                            span { (session.user.name) " " }
                            input type="hidden" name="csrf" value=(session.csrf_token);
                            button type="submit" { "退出 Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The sign-in form, with a message when the last attempt failed.
pub(super) fn login(message: Option<&str>) -> Markup {
    page(
        "登录",
        None,
        html! {
            form.card method="post" action="/console/login" {
                h1 { "登录 Sign in" }
                @if let Some(message) = message { p.error { (message) } }
                label for="name" { "用户名 Name" }
                input #name name="name" autocomplete="username" required;
                label for="password" { "密码 Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "登录 Sign in" }
            }
        },
    )
}

/// The first page after signing in.
pub(super) fn home(session: &ConsoleSession) -> Markup {
    let role = match (session.user.role, session.user.area_code.as_deref()) {
        (Role::Admin, _) => "管理员（全部地区） admin of the whole server".to_owned(),
        (Role::Supervisor, Some(area)) => format!("督导（{area} 及其下辖） supervisor of {area}"),
        (Role::Supervisor, None) => "督导 supervisor".to_owned(),
    };
    page(
        "控制台",
        Some(session),
        html! {
            section.card {
                h1 { "你好，" (session.user.name) }
                p { (role) }
                p.note { "进度、农户、风险、返乡、复核、导出等页面即将上线。 The progress, household, risk, homecoming, review and export pages come next." }
                p { a href="/console/password" { "修改密码 Change password" } }
            }
        },
    )
}

/// Changing the password (the first login must).
pub(super) fn password(session: &ConsoleSession, message: Option<&str>) -> Markup {
    page(
        "修改密码",
        Some(session),
        html! {
            form.card method="post" action="/console/password" {
                h1 { "修改密码 Change password" }
                @if session.user.must_change {
                    p.note { "首次登录请先设置新密码。 Set a new password before going on." }
                }
                @if let Some(message) = message { p.error { (message) } }
                input type="hidden" name="csrf" value=(session.csrf_token);
                label for="current" { "当前密码 Current password" }
                input #current name="current" type="password" autocomplete="current-password" required;
                label for="new" { "新密码（至少 10 个字符） New password (10 characters or more)" }
                input #new name="new" type="password" autocomplete="new-password" required;
                button type="submit" { "保存 Save" }
            }
        },
    )
}
