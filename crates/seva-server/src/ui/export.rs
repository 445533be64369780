//! A list of the inbox as a spreadsheet: the same view, filters and order as the page
//! shows, every row of it up to [`MOST_ROWS`], as CSV.

use super::Query;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use seva_store::conversations;
use seva_store::op;

use super::desk::{Asked, InboxQuery, agent_names, rows};
use super::{Agent, PageError};
use crate::Shared;

/// The most rows one export holds.
pub const MOST_ROWS: usize = 10_000;

/// `GET /inbox/export.csv?view=…|saved=…&sort=…`: the list as CSV, in UTF-8 with a byte
/// order mark (which spreadsheet programs need to read Telugu or Greek right), its
/// headings in the agent's language.
pub async fn csv(
    State(state): State<Shared>,
    agent: Agent,
    Query(q): Query<InboxQuery>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let asked = Asked::of(&q, &agent)?;
    let name = match q.saved.as_deref() {
        Some(_) => "view",
        None => asked.view,
    };
    let me = agent.0.agent.id;
    let viewer = agent.0.viewer();
    let (list, names) = state
        .store
        .read(op!(c => {
            let (filter, _) = asked.filter(c, me).await?;
            let mut all = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = conversations::list(c, &viewer, &filter, cursor, 200).await?;
                all.extend(page);
                match next {
                    Some(n) if all.len() < MOST_ROWS => cursor = Some(n),
                    _ => break,
                }
            }
            all.truncate(MOST_ROWS);
            Ok((all, agent_names(c).await?))
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let mut out = String::from("\u{feff}");
    let headings = [
        "#".to_string(),
        t.s("col-subject"),
        t.s("col-customer"),
        t.s("col-status"),
        t.s("col-priority"),
        t.s("col-owner"),
        t.s("col-updated"),
        t.s("col-tags"),
    ];
    line(&mut out, &headings);
    for r in rows(t, list, &names) {
        line(
            &mut out,
            &[
                r.reference.to_string(),
                r.subject,
                r.contact,
                r.status_label,
                r.priority_label,
                r.owner,
                r.updated_iso,
                r.tags.join(" "),
            ],
        );
    }
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"seva-{name}.csv\""),
            ),
        ],
        out,
    )
        .into_response())
}

/// Appends one CSV record (RFC 4180: fields quoted when they hold a comma, a quote or a
/// line break, quotes doubled, lines ended by CRLF).
fn line(out: &mut String, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push_str("\r\n");
}

fn field(out: &mut String, value: &str) {
    // A customer's subject is theirs to choose: one that starts like a formula is kept
    // as text (a leading apostrophe), so that opening the file runs nothing.
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = formula || value.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for ch in value.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    if quoted {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be_and_formulas_stay_text() {
        let mut out = String::new();
        line(
            &mut out,
            &[
                "42".into(),
                "Παραγγελία, ξανά".into(),
                "He said \"hi\"\nthen left".into(),
                "=HYPERLINK(\"x\")".into(),
                "-1".into(),
                "ఆర్డర్".into(),
            ],
        );
        assert_eq!(
            out,
            "42,\"Παραγγελία, ξανά\",\"He said \"\"hi\"\"\nthen left\",\"'=HYPERLINK(\"\"x\"\")\",\"'-1\",ఆర్డర్\r\n"
        );
    }
}
