//! A user agent string in words ("Firefox on Windows"), for the pages that list sessions
//! and events. A short ordered list of tokens, not a database: browsers that pretend to
//! be others (Edge, Opera and Chrome all say "Safari") are told apart by checking the
//! more specific token first.

/// Browser tokens, most specific first.
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Vivaldi/", "Vivaldi"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("Wget/", "Wget"),
    ("Plex", "Plex"),
    ("Jellyfin", "Jellyfin"),
    ("Emby", "Emby"),
];

/// Platform tokens, most specific first (Android says "Linux"; iPhone says "Mac OS X").
const PLATFORMS: &[(&str, &str)] = &[
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// "Firefox on Windows", "Safari on iPhone", "Chrome", "an unknown browser"; the raw
/// string is the title attribute where the page shows it.
pub fn describe(ua: &str) -> String {
    let browser = BROWSERS.iter().find(|(t, _)| ua.contains(t)).map(|b| b.1);
    let platform = PLATFORMS.iter().find(|(t, _)| ua.contains(t)).map(|p| p.1);
    match (browser, platform) {
        (Some(b), Some(p)) => format!("{b} on {p}"),
        (Some(b), None) => b.to_string(),
        (None, Some(p)) => format!("a browser on {p}"),
        (None, None) if ua.trim().is_empty() => "no user agent".to_string(),
        (None, None) => "an unknown client".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn common_browsers_in_words() {
        for (ua, words) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0",
                "Firefox on Android",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
                "Opera on Linux",
            ),
            ("curl/8.5.0", "curl"),
            ("", "no user agent"),
            ("something/1.0", "an unknown client"),
        ] {
            assert_eq!(describe(ua), words, "{ua}");
        }
    }
}
