//! The new words of a reply, told apart from the history it quotes and the signature it
//! ends with. Agents read the new words; the rest stays one click away, and the original
//! message is always kept whole.
//!
//! Quoted history is recognised by what mail clients put before it: an attribution line
//! ("On Mon, … wrote:", "Στις … έγραψε:", "… రాశారు:", "Noong … sumulat si …:"), an
//! "Original Message" rule, an Outlook-style header block (From/Sent/To in any of our
//! languages), or a trailing block of `>` lines.

/// A message's text, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// What the sender wrote now.
    pub visible: String,
    /// The quoted history (and signature), empty when there was none.
    pub folded: String,
}

/// Words that end an attribution line ("… wrote:"), lower-case, without the colon.
const WROTE: &[&str] = &[
    "wrote",
    "writes",
    "έγραψε",
    "έγραψαν",
    "రాశారు",
    "వ్రాశారు",
    "రాసారు",
    "a écrit",
    "schrieb",
    "escribió",
    "scrisse",
    "schreef",
    "написал",
    "написала",
    "napisał",
    "skrev",
    "kirjoitti",
];

/// Words that open an Outlook-style header block ("From:") …
const FROM: &[&str] = &[
    "from",
    "από",
    "de",
    "von",
    "mula kay",
    "mula",
    "నుండి",
    "పంపినవారు",
];
/// … and the fields that follow it within a few lines.
const HEADER_FIELDS: &[&str] = &[
    "sent",
    "date",
    "to",
    "subject",
    "cc",
    "στάλθηκε",
    "ημερομηνία",
    "προς",
    "θέμα",
    "κοιν",
    "ipinadala",
    "petsa",
    "para kay",
    "para",
    "paksa",
    "పంపినది",
    "పంపబడింది",
    "తేదీ",
    "కు",
    "విషయం",
    "gesendet",
    "an",
    "betreff",
    "envoyé",
    "à",
    "objet",
];
/// "-----Original Message-----" in the languages we know.
const ORIGINAL: &[&str] = &[
    "original message",
    "αρχικό μήνυμα",
    "orihinal na mensahe",
    "అసలు సందేశం",
    "మూల సందేశం",
    "ursprüngliche nachricht",
    "message d'origine",
];
/// How attribution lines begin ("On Mon, …", "Στις …", "Noong …").
const OPENERS: &[&str] = &[
    "On ",
    "Στις ",
    "Noong ",
    "Le ",
    "Am ",
    "El ",
    "Il ",
    "Op ",
    "W dniu ",
];
/// Lines mobile clients add as a signature.
const SENT_FROM: &[&str] = &[
    "sent from my ",
    "sent from outlook",
    "get outlook for ",
    "στάλθηκε από ",
    "εστάλη από ",
    "ipinadala mula sa ",
    "నా iphone నుండి",
    "నా android నుండి",
];

fn field_name(line: &str) -> Option<String> {
    let line = line.trim().trim_start_matches('*');
    let (name, _) = line.split_once(':')?;
    let name = name.trim().trim_end_matches('*').trim().to_lowercase();
    (name.chars().count() <= 12).then_some(name)
}

fn is_attribution(window: &str, next_is_quote: bool) -> bool {
    let w = window.trim().to_lowercase();
    if w.len() > 400 || !w.ends_with(':') {
        return false;
    }
    let head = w.trim_end_matches(':').trim_end();
    let says = WROTE.iter().any(|v| head.ends_with(v))
        || (w.starts_with("noong ") && w.contains("sumulat"));
    // "My colleague wrote:" in the middle of a message is not an attribution; one with a
    // date, an address, or quoted lines right after it is.
    says && (next_is_quote || w.contains('@') || w.chars().any(|c| c.is_ascii_digit()))
}

fn is_original_rule(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    (l.starts_with("--") || l.starts_with("__")) && ORIGINAL.iter().any(|o| l.contains(o))
        || (l.len() >= 20 && l.chars().all(|c| c == '_'))
}

fn is_header_block(lines: &[&str], i: usize) -> bool {
    let Some(name) = field_name(lines[i]) else {
        return false;
    };
    if !FROM.contains(&name.as_str()) {
        return false;
    }
    lines[i + 1..]
        .iter()
        .take(5)
        .filter_map(|l| field_name(l))
        .filter(|n| HEADER_FIELDS.contains(&n.as_str()))
        .count()
        >= 2
}

fn is_quote_line(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// Where the quoted history starts: (line index, whether an attribution opens it).
fn quote_start(lines: &[&str]) -> Option<(usize, bool)> {
    let opens = |i: usize| {
        i == 0
            || is_blank(lines[i - 1])
            || OPENERS.iter().any(|o| lines[i].trim_start().starts_with(o))
            || lines[i]
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit())
    };
    for i in 0..lines.len() {
        // An attribution ends on this line: one to three non-blank, unquoted lines (clients
        // wrap long ones) that start a paragraph or start the way attributions do. The
        // shortest such window wins.
        if lines[i].trim_end().ends_with(':') {
            let next_is_quote = lines[i + 1..]
                .iter()
                .find(|l| !is_blank(l))
                .is_some_and(|l| is_quote_line(l));
            for start in (i.saturating_sub(2)..=i).rev() {
                let window = &lines[start..=i];
                if window.iter().any(|l| is_blank(l) || is_quote_line(l)) {
                    break;
                }
                if opens(start) && is_attribution(&window.join(" "), next_is_quote) {
                    return Some((start, true));
                }
            }
        }
        if is_original_rule(lines[i]) || is_header_block(lines, i) {
            return Some((i, false));
        }
    }
    // A trailing block of quoted lines.
    let last = lines.iter().rposition(|l| !is_blank(l))?;
    if !is_quote_line(lines[last]) {
        return None;
    }
    let mut start = last;
    while start > 0 && (is_quote_line(lines[start - 1]) || is_blank(lines[start - 1])) {
        start -= 1;
    }
    Some((start, false))
}

fn join(lines: &[&str]) -> String {
    lines.join("\n").trim_matches('\n').trim_end().to_string()
}

/// Splits off the quoted history. When the sender wrote below the quote (bottom-posting),
/// the words below it are the visible part.
pub fn split_quote(text: &str) -> Split {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let whole = || Split {
        visible: text.trim().to_string(),
        folded: String::new(),
    };
    let Some((start, attribution)) = quote_start(&lines) else {
        return whole();
    };
    let before = join(&lines[..start]);
    if !before.trim().is_empty() {
        return Split {
            visible: before,
            folded: join(&lines[start..]),
        };
    }
    if attribution {
        // "On … wrote:" then "> …" lines, then the reply.
        let mut end = start + 1;
        while end < lines.len() && !is_quote_line(lines[end]) && end < start + 3 {
            end += 1;
        }
        while end < lines.len() && (is_quote_line(lines[end]) || is_blank(lines[end])) {
            end += 1;
        }
        let after = join(&lines[end..]);
        if !after.trim().is_empty() {
            return Split {
                visible: after,
                folded: join(&lines[start..end]),
            };
        }
    }
    // Nothing but history: show it all rather than an empty message.
    whole()
}

/// Splits off a signature: from the `-- ` delimiter, or a "Sent from my phone" line near
/// the end.
pub fn split_signature(text: &str) -> Split {
    let lines: Vec<&str> = text.lines().collect();
    let tail_from = lines.len().saturating_sub(12);
    let at = lines.iter().enumerate().skip(tail_from).find_map(|(i, l)| {
        let t = l.trim_end();
        let lower = l.trim().to_lowercase();
        (t == "--" || SENT_FROM.iter().any(|s| lower.starts_with(s))).then_some(i)
    });
    match at {
        Some(i) if !join(&lines[..i]).trim().is_empty() => Split {
            visible: join(&lines[..i]),
            folded: join(&lines[i..]),
        },
        _ => Split {
            visible: text.trim().to_string(),
            folded: String::new(),
        },
    }
}

/// Both: the new words, and everything folded away (history, then signature).
pub fn strip(text: &str) -> Split {
    let q = split_quote(text);
    let s = split_signature(&q.visible);
    let folded = [s.folded, q.folded]
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    Split {
        visible: s.visible,
        folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(text: &str) -> String {
        split_quote(text).visible
    }

    #[test]
    fn attributions_in_our_languages() {
        let cases = [
            "Thanks, that worked.\n\nOn Mon, 2 Apr 2012 at 18:26, Seva Support <support@seva.test> wrote:\n> Try again\n",
            "Thanks, that worked.\n\nOn Mon, 2 Apr 2012 at 18:26, Seva Support <\nsupport@seva.test> wrote:\n\n> Try again\n",
            "Thanks, that worked.\n\nΣτις Δευ, 2 Απρ 2012 στις 6:26 μ.μ., ο χρήστης Seva <support@seva.test> έγραψε:\n> Δοκιμάστε ξανά\n",
            "Thanks, that worked.\n\n2 ఏప్రి, 2012 సోమ 6:26 PMన Seva <support@seva.test> ఇలా రాశారు:\n> మళ్ళీ ప్రయత్నించండి\n",
            "Thanks, that worked.\n\nNoong Lun, Abr 2, 2012 nang 6:26 PM, sumulat si Seva <support@seva.test>:\n> Subukan ulit\n",
        ];
        for c in cases {
            let s = split_quote(c);
            assert_eq!(s.visible, "Thanks, that worked.", "{c}");
            assert!(s.folded.contains("support@seva.test"), "{c}");
        }
    }

    #[test]
    fn outlook_header_blocks_in_our_languages() {
        let cases = [
            "Ευχαριστώ!\n\nΑπό: Seva <support@seva.test>\nΣτάλθηκε: Δευτέρα, 2 Απριλίου 2012 6:26 μμ\nΠρος: Νίκος\nΘέμα: Re: Παραγγελία\n\nΤο παλιό κείμενο",
            "Salamat po!\n\nMula kay: Seva <support@seva.test>\nIpinadala: Lunes, Abril 2, 2012\nPara kay: Maria\nPaksa: Re: Order\n\nLumang teksto",
            "ధన్యవాదాలు!\n\nనుండి: Seva <support@seva.test>\nపంపినది: సోమవారం\nకు: రవి\nవిషయం: Re: ఆర్డర్\n\nపాత వచనం",
            "Thanks!\n\n-----Original Message-----\nFrom: Seva\nSent: Monday\n\nold",
            "Thanks!\n\n________________________________\nFrom: Seva <support@seva.test>\nSent: Monday\nTo: me\n\nold",
        ];
        for c in cases {
            let first = c.lines().next().unwrap();
            assert_eq!(visible(c), first, "{c}");
        }
    }

    #[test]
    fn bottom_posting_keeps_the_words_below_the_quote() {
        let s = split_quote("On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi \nHello");
        assert_eq!(s.visible, "Hello");
        assert!(s.folded.starts_with("On 04/02/2012"));
    }

    #[test]
    fn interleaved_answers_are_kept_and_a_lone_colleague_quote_too() {
        let t = "> Which plan?\nThe big one.\n> When?\nToday.";
        assert_eq!(visible(t), t);
        let t = "My colleague wrote:\nplease call me back";
        assert_eq!(visible(t), t);
    }

    #[test]
    fn signatures_fold_away() {
        let s = strip(
            "Hello\n\nSent from my iPhone\n\nOn Apr 3, 2012, at 4:19 PM, bob <b@x.org> wrote:\n\n> Hi",
        );
        assert_eq!(s.visible, "Hello");
        assert!(s.folded.starts_with("Sent from my iPhone"));
        let s = strip("Hello\n-- \nRavi\nAcme Ltd");
        assert_eq!(s.visible, "Hello");
        assert_eq!(s.folded, "-- \nRavi\nAcme Ltd");
        // A message that is only a quote stays readable.
        assert_eq!(strip("> just this").visible, "> just this");
    }
}
