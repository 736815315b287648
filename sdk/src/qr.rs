//! QR codes drawn with Unicode half blocks, two modules per character cell, so that a URL fits
//! in a normal terminal and a phone camera can read it off the screen.

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};

/// The terminal's background, which decides which modules are drawn as blocks: a QR code must
/// be dark on light to scan reliably, whatever the theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Light text on a dark background.
    Dark,
    /// Dark text on a light background.
    Light,
}

/// Renders `text` as a QR code for a terminal with the given background, with the quiet zone
/// scanners need. Fails only if `text` is too long for any QR code (about 2 KB).
pub fn render(text: &str, background: Background) -> Result<String, String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
        .map_err(|e| format!("cannot draw a QR code for this text: {e}"))?;
    let (dark, light) = match background {
        // On a dark terminal the blocks are the light modules.
        Background::Dark => (Dense1x2::Light, Dense1x2::Dark),
        Background::Light => (Dense1x2::Dark, Dense1x2::Light),
    };
    Ok(code
        .render::<Dense1x2>()
        .dark_color(dark)
        .light_color(light)
        .quiet_zone(true)
        .build())
}

/// Picks the background from a theme name: themes whose name contains `light` have one.
pub fn background_for_theme(theme: &str) -> Background {
    if theme.contains("light") {
        Background::Light
    } else {
        Background::Dark
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_square_block_art() {
        let art = render(
            "https://example.test/code/session_local_1",
            Background::Dark,
        )
        .unwrap();
        let lines: Vec<_> = art.lines().collect();
        let width = lines[0].chars().count();
        assert!(width >= 21 + 8, "version 1 plus quiet zone");
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // Two modules per line: about half as many lines as columns.
        assert!(lines.len() * 2 >= width && lines.len() * 2 <= width + 2);
        assert!(art.chars().all(|c| " ▀▄█\n".contains(c)));
    }

    #[test]
    fn backgrounds_are_inverse() {
        let dark = render("x", Background::Dark).unwrap();
        let light = render("x", Background::Light).unwrap();
        let invert = |c: char| match c {
            '█' => ' ',
            ' ' => '█',
            '▀' => '▄',
            '▄' => '▀',
            other => other,
        };
        // Every full row pair is the exact inverse; the last line is padded and may differ.
        let (d, l): (Vec<_>, Vec<_>) = (dark.lines().collect(), light.lines().collect());
        assert_eq!(d.len(), l.len());
        for (a, b) in d.iter().zip(&l).take(d.len() - 1) {
            assert_eq!(a.chars().map(invert).collect::<String>(), *b);
        }
    }

    #[test]
    fn too_long_is_an_error() {
        assert!(render(&"x".repeat(8000), Background::Dark).is_err());
    }
}
