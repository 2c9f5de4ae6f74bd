//! Enrolment QR codes drawn for people: as SVG for the console's cadres
//! page, and in Unicode blocks for `doorstep admin enroll-code --qr`.
//!
//! The payload ([`crate::enrol::EnrolSettings::payload`]) holds a one-time
//! code: whoever sees the picture can enrol a device as that cadre until
//! the code is used or expires. Show it only to a signed-in account that
//! may enrol devices, never put it in a URL, a log or a cache.

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

/// Pixels a module of the SVG: the picture scales with CSS anyway.
const SVG_MODULE_PIXELS: u32 = 4;

/// The payload as an SVG element, self-contained (no script, no link, no
/// external reference) and ready to put inline in a page. Error correction
/// level M: a phone's camera reads it off a laptop screen. A payload too
/// long for any QR code (far longer than an enrolment payload) gives an
/// SVG that says so.
pub fn qr_svg(payload: &str) -> String {
    let Ok(code) = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M) else {
        return concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 200 20">"#,
            r#"<text x="0" y="15">too long for a QR code</text></svg>"#
        )
        .to_string();
    };
    let svg = code
        .render::<svg::Color<'_>>()
        .module_dimensions(SVG_MODULE_PIXELS, SVG_MODULE_PIXELS)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // The XML declaration has no place inside an HTML page.
    let element = svg.find("<svg").map_or(svg.as_str(), |start| &svg[start..]);
    element.replacen("<svg ", r#"<svg role="img" "#, 1)
}

/// The payload in Unicode half blocks, two modules a character, for a
/// terminal with light text on a dark background (as `qrencode -t UTF8`
/// draws): light modules are blocks, dark ones are spaces, with the quiet
/// zone around. `None` if the payload is too long for a QR code.
pub fn qr_text(payload: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<unicode::Dense1x2>()
            .dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = "doorstep://enrol?v=1&server=https%3A%2F%2Fcounty.example%3A8686&code=ABCD-EFGH&ca=3f1a6c0e9b2d4f5a7c8e0b1d2f3a4c5e6b7d8f9a0c1e2b3d4f5a6c7e8b9d0f1a";

    /// Decodes a picture given as rows of dark (true) and light modules.
    fn decode(rows: &[Vec<bool>], scale: usize) -> String {
        let height = rows.len() * scale;
        let width = rows[0].len() * scale;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
            if rows[y / scale][x / scale] { 0 } else { 255 }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the picture");
        let (_, content) = grids[0].decode().expect("the QR code decodes");
        content
    }

    /// Rasterises the SVG's path (`M{x} {y}h{w}v{h}H{x}V{y}` per dark
    /// run), module by module.
    fn svg_modules(svg: &str) -> Vec<Vec<bool>> {
        let number = |text: &str, key: &str| -> u32 {
            let start = text.find(key).expect(key) + key.len();
            text[start..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|digits| digits.parse().ok())
                .expect("a number")
        };
        let size = (number(svg, r#"width=""#) / SVG_MODULE_PIXELS) as usize;
        let mut rows = vec![vec![false; size]; size];
        let path = &svg[svg.find(r#" d=""#).expect("a path") + 4..];
        let path = &path[..path.find('"').expect("the path ends")];
        for rect in path.split('M').filter(|rect| !rect.is_empty()) {
            let numbers: Vec<u32> = rect
                .split(|c: char| !c.is_ascii_digit())
                .filter(|part| !part.is_empty())
                .map(|part| part.parse().expect("a number"))
                .collect();
            let (left, top, width, height) = (numbers[0], numbers[1], numbers[2], numbers[3]);
            for y in top / SVG_MODULE_PIXELS..(top + height) / SVG_MODULE_PIXELS {
                for x in left / SVG_MODULE_PIXELS..(left + width) / SVG_MODULE_PIXELS {
                    rows[y as usize][x as usize] = true;
                }
            }
        }
        rows
    }

    #[test]
    fn the_svg_is_self_contained_and_scans_back_to_the_payload() {
        let svg = qr_svg(PAYLOAD);
        assert!(
            svg.starts_with(r#"<svg role="img" xmlns="http://www.w3.org/2000/svg""#),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
        for outside in [
            "<?xml",
            "href",
            "<script",
            "<image",
            "url(",
            "<foreignObject",
            "<style",
        ] {
            assert!(!svg.contains(outside), "{outside} in the SVG");
        }
        // The only address is the SVG namespace.
        assert_eq!(svg.matches("http").count(), 1, "{svg}");
        assert_eq!(decode(&svg_modules(&svg), 3), PAYLOAD);
    }

    #[test]
    fn the_terminal_drawing_scans_back_to_the_payload() {
        let text = qr_text(PAYLOAD).expect("fits");
        // Blocks are light (the terminal's text colour): back to modules,
        // two rows a line, dark where there is no ink.
        let mut rows = Vec::new();
        for line in text.lines() {
            let (upper, lower): (Vec<bool>, Vec<bool>) = line
                .chars()
                .map(|c| match c {
                    ' ' => (true, true),
                    '\u{2580}' => (false, true),
                    '\u{2584}' => (true, false),
                    '\u{2588}' => (false, false),
                    other => panic!("unexpected {other:?}"),
                })
                .unzip();
            rows.push(upper);
            rows.push(lower);
        }
        assert!(
            rows[0].iter().all(|dark| !dark),
            "a light quiet zone on top"
        );
        assert_eq!(decode(&rows, 3), PAYLOAD);
    }

    #[test]
    fn a_payload_too_long_for_any_qr_code_says_so() {
        let long = "x".repeat(8000);
        assert!(qr_svg(&long).contains("too long"));
        assert_eq!(qr_text(&long), None);
    }
}
