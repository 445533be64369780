//! HTML from email made safe to show inside the desk: no scripts, styles, forms, frames,
//! event handlers or relative links; links open with no referrer. The desk's Content
//! Security Policy also refuses remote images, so a tracking pixel never reports that an
//! agent opened a message.

use std::collections::HashSet;
use std::sync::LazyLock;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(HashSet::from(["http", "https", "mailto", "tel"]))
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .strip_comments(true)
        .add_generic_attributes(["dir"]);
    b
});

/// The HTML with everything unsafe removed.
pub fn clean(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

/// Where clients start the quoted history in HTML (matched in lower case).
const QUOTE_MARKERS: &[&str] = &[
    "<div class=\"gmail_quote",
    "<blockquote class=\"gmail_quote",
    "<blockquote type=\"cite\"",
    "<div class=\"moz-cite-prefix\"",
    "<div id=\"appendonsend\"",
    "<div id=\"divrplyfwdmsg\"",
    "<hr id=\"stopspelling\"",
    "<div class=\"yahoo_quoted\"",
    "<div class=\"protonmail_quote\"",
    "border:none;border-top:solid #b5c4df",
    "border:none;border-top:solid #e1e1e1",
];

/// The HTML before the quoted history, made safe; `None` when no history was found.
pub fn clean_without_quote(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let at = QUOTE_MARKERS.iter().filter_map(|m| lower.find(m)).min()?;
    // The style markers sit inside a tag: cut at the start of that tag.
    let at = html[..at].rfind('<').unwrap_or(at);
    let head = clean(&html[..at]);
    (!head.trim().is_empty()).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_styles_go() {
        let out = clean(
            "<p onclick=\"x()\">Hi <b>there</b></p><script>alert(1)</script><style>p{}</style>\
             <a href=\"javascript:alert(1)\">x</a><a href=\"https://example.com\">ok</a><img src=\"/local\">",
        );
        assert!(!out.contains("script") && !out.contains("onclick") && !out.contains("p{}"));
        assert!(!out.contains("javascript:") && !out.contains("/local"));
        assert!(out.contains("<b>there</b>"));
        assert!(out.contains("rel=\"noopener noreferrer nofollow\""));
    }

    #[test]
    fn the_quoted_history_is_cut_off() {
        let html = "<div dir=\"ltr\">Γεια σας</div><div class=\"gmail_quote\"><div>On Mon wrote:</div><blockquote>old</blockquote></div>";
        assert_eq!(
            clean_without_quote(html).as_deref(),
            Some("<div dir=\"ltr\">Γεια σας</div>")
        );
        assert_eq!(clean_without_quote("<p>no history</p>"), None);
    }
}
