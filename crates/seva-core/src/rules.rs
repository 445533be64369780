//! Rules as data: "when a conversation is created (or updated, or breaches its SLA) and
//! these conditions hold, do these things". Routing by keywords or tier, priority from
//! urgent words, escalation on breach and the other automations are all rules of this
//! one shape, stored as JSON, checked here before they are saved, and evaluated here
//! against the facts of a conversation. Nothing here touches the database.
//!
//! ```json
//! {"name": "Breakdowns first", "trigger": "conversation.created",
//!  "conditions": [{"field": "text", "op": "contains_any", "value": ["broke down", "χάλασε"]}],
//!  "actions": [{"type": "set_priority", "value": "urgent"}, {"type": "notify", "value": "supervisors"}]}
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::conversation::{Channel, Priority, Status, normalise_tag};
use crate::text::fold;

/// A rule that cannot be saved, with the path of the part at fault
/// (`conditions[1].value`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RuleError {
    pub path: String,
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> RuleError {
    RuleError {
        path: path.into(),
        message: message.into(),
    }
}

macro_rules! words {
    ($name:ident { $($variant:ident = $word:literal),* $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }
        impl $name {
            pub const WORDS: &'static [&'static str] = &[$($word),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),* }
            }
        }
        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($word => Ok($name::$variant),)* _ => Err(()) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

words!(Trigger {
    Created = "conversation.created",
    Updated = "conversation.updated",
    Breached = "sla.breached",
    Unassigned = "conversation.unassigned_too_long",
});

words!(Field {
    Subject = "subject",
    Text = "text",
    Language = "language",
    Channel = "channel",
    Inbox = "inbox_id",
    Team = "team_id",
    Owner = "owner_id",
    Priority = "priority",
    Status = "status",
    Tags = "tags",
    ContactTier = "contact.tier",
    ContactEmail = "contact.email",
    ContactRecent = "contact.recent_conversations",
});

words!(Op {
    Is = "is",
    IsNot = "is_not",
    In = "in",
    ContainsAny = "contains_any",
    Matches = "matches",
    IsSet = "is_set",
    IsNotSet = "is_not_set",
    AtLeast = "at_least",
});

words!(ActionKind {
    SetPriority = "set_priority",
    SetTeam = "set_team",
    Assign = "assign",
    Unassign = "unassign",
    AddTag = "add_tag",
    RemoveTag = "remove_tag",
    SetStatus = "set_status",
    AddNote = "add_note",
    Notify = "notify",
});

#[derive(Debug, Clone)]
pub struct Condition {
    pub field: Field,
    pub op: Op,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Words(Vec<String>),
    Number(i64),
    Pattern(Arc<regex::Regex>),
    Nothing,
}

/// What a rule does; the value is checked for its kind (a priority word, an id, a tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub kind: ActionKind,
    pub value: String,
}

/// A checked rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub trigger: Trigger,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

/// What a rule can see of a conversation.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub subject: String,
    /// The customer's latest message.
    pub text: String,
    pub language: Option<String>,
    pub channel: Option<String>,
    pub inbox_id: Option<String>,
    pub team_id: Option<String>,
    pub owner_id: Option<String>,
    pub priority: Option<String>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub contact_tier: Option<String>,
    pub contact_email: Option<String>,
    /// How many other conversations the customer opened in the last
    /// [`RECENT_DAYS`] days: someone writing again about the same trouble.
    pub contact_recent: i64,
}

/// The window of `contact.recent_conversations`.
pub const RECENT_DAYS: i64 = 7;

/// Facts folded for matching (see [`fold`]), once for all the rules that look at them.
#[derive(Debug, Clone)]
pub struct Folded(Facts);

impl Facts {
    pub fn fold(&self) -> Folded {
        let one = |v: &Option<String>| v.as_deref().map(fold).filter(|s| !s.is_empty());
        Folded(Facts {
            subject: fold(&self.subject),
            text: fold(&self.text),
            language: one(&self.language),
            channel: one(&self.channel),
            inbox_id: one(&self.inbox_id),
            team_id: one(&self.team_id),
            owner_id: one(&self.owner_id),
            priority: one(&self.priority),
            status: one(&self.status),
            tags: self.tags.iter().map(|t| fold(t)).collect(),
            contact_tier: one(&self.contact_tier),
            contact_email: one(&self.contact_email),
            contact_recent: self.contact_recent,
        })
    }
}

const MAX_CONDITIONS: usize = 20;
const MAX_ACTIONS: usize = 10;
const MAX_WORDS: usize = 200;

fn text_of<'v>(v: &'v Value, path: &str) -> Result<&'v str, RuleError> {
    v.as_str().ok_or_else(|| err(path, "must be a string"))
}

fn one_of<T: FromStr>(v: &Value, path: &str, words: &[&str]) -> Result<T, RuleError> {
    let s = text_of(v, path)?;
    s.parse()
        .map_err(|_| err(path, format!("must be one of: {}", words.join(", "))))
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Checks a value against what `field` holds, so that a rule naming a priority that does
/// not exist is refused when saved rather than never matching.
fn check_value(field: Field, s: &str, path: &str) -> Result<(), RuleError> {
    let ok = match field {
        Field::Priority => s.parse::<Priority>().is_ok(),
        Field::Status => s.parse::<Status>().is_ok(),
        Field::Channel => s.parse::<Channel>().is_ok(),
        Field::Inbox | Field::Team | Field::Owner => is_uuid(s),
        Field::Tags => normalise_tag(s).is_ok(),
        _ => !s.trim().is_empty() && s.len() <= 200,
    };
    if ok {
        Ok(())
    } else {
        Err(err(path, format!("{s:?} is not a possible {field}")))
    }
}

fn compile_pattern(p: &str, path: &str) -> Result<Arc<regex::Regex>, RuleError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(p).cloned()) {
        return Ok(r);
    }
    let r = regex::RegexBuilder::new(p)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| err(path, format!("not a valid regular expression: {e}")))?;
    let r = Arc::new(r);
    if let Ok(mut c) = cache.lock() {
        if c.len() > 1000 {
            c.clear();
        }
        c.insert(p.to_string(), r.clone());
    }
    Ok(r)
}

fn condition(v: &Value, path: &str) -> Result<Condition, RuleError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err(path, "must be an object"))?;
    for key in obj.keys() {
        if !["field", "op", "value"].contains(&key.as_str()) {
            return Err(err(format!("{path}.{key}"), "unknown key"));
        }
    }
    let fpath = format!("{path}.field");
    let field: Field = one_of(
        obj.get("field").ok_or_else(|| err(&fpath, "is required"))?,
        &fpath,
        Field::WORDS,
    )?;
    let opath = format!("{path}.op");
    let op: Op = one_of(
        obj.get("op").ok_or_else(|| err(&opath, "is required"))?,
        &opath,
        Op::WORDS,
    )?;
    let vpath = format!("{path}.value");
    let value = obj.get("value").unwrap_or(&Value::Null);
    let textual = matches!(field, Field::Subject | Field::Text | Field::ContactEmail);
    let numeric = field == Field::ContactRecent;
    if numeric != (op == Op::AtLeast) && !matches!(op, Op::IsSet | Op::IsNotSet) {
        return Err(err(
            &opath,
            format!(
                "{field} is compared with at_least, and at_least only compares contact.recent_conversations"
            ),
        ));
    }
    let test = match op {
        Op::AtLeast => Test::Number(
            value
                .as_i64()
                .filter(|n| (0..=10_000).contains(n))
                .ok_or_else(|| err(&vpath, "must be a whole number from 0 to 10000"))?,
        ),
        Op::IsSet | Op::IsNotSet => Test::Nothing,
        Op::Is | Op::IsNot => {
            let s = text_of(value, &vpath)?;
            check_value(field, s, &vpath)?;
            Test::Words(vec![fold(s)])
        }
        Op::In | Op::ContainsAny => {
            if op == Op::ContainsAny && !textual && field != Field::Tags {
                return Err(err(
                    &opath,
                    format!(
                        "contains_any applies to subject, text, contact.email and tags, not {field}"
                    ),
                ));
            }
            let list = value
                .as_array()
                .filter(|l| !l.is_empty() && l.len() <= MAX_WORDS)
                .ok_or_else(|| {
                    err(
                        &vpath,
                        format!("must be a list of 1 to {MAX_WORDS} strings"),
                    )
                })?;
            let mut words = Vec::with_capacity(list.len());
            for (i, w) in list.iter().enumerate() {
                let p = format!("{vpath}[{i}]");
                let s = text_of(w, &p)?;
                check_value(field, s, &p)?;
                words.push(fold(s));
            }
            Test::Words(words)
        }
        Op::Matches => {
            if !textual {
                return Err(err(
                    &opath,
                    format!("matches applies to subject, text and contact.email, not {field}"),
                ));
            }
            let p = text_of(value, &vpath)?;
            if p.len() > 1000 {
                return Err(err(&vpath, "at most 1000 characters"));
            }
            Test::Pattern(compile_pattern(p, &vpath)?)
        }
    };
    Ok(Condition { field, op, test })
}

fn action(v: &Value, path: &str) -> Result<Action, RuleError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err(path, "must be an object"))?;
    for key in obj.keys() {
        if !["type", "value"].contains(&key.as_str()) {
            return Err(err(format!("{path}.{key}"), "unknown key"));
        }
    }
    let tpath = format!("{path}.type");
    let kind: ActionKind = one_of(
        obj.get("type").ok_or_else(|| err(&tpath, "is required"))?,
        &tpath,
        ActionKind::WORDS,
    )?;
    let vpath = format!("{path}.value");
    let value = match kind {
        ActionKind::Unassign => String::new(),
        _ => text_of(obj.get("value").unwrap_or(&Value::Null), &vpath)?.to_string(),
    };
    let ok = match kind {
        ActionKind::SetPriority => value.parse::<Priority>().is_ok(),
        ActionKind::SetStatus => value.parse::<Status>().is_ok(),
        ActionKind::SetTeam | ActionKind::Assign => is_uuid(&value),
        ActionKind::AddTag | ActionKind::RemoveTag => normalise_tag(&value).is_ok(),
        ActionKind::AddNote => !value.trim().is_empty() && value.len() <= 10_000,
        ActionKind::Notify => {
            matches!(value.as_str(), "supervisors" | "owner" | "team") || is_uuid(&value)
        }
        ActionKind::Unassign => true,
    };
    if !ok {
        let expected = match kind {
            ActionKind::SetPriority => Priority::ALL
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            ActionKind::SetStatus => Status::ALL
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            ActionKind::SetTeam => "a team id".into(),
            ActionKind::Assign => "an agent id".into(),
            ActionKind::AddTag | ActionKind::RemoveTag => "a tag".into(),
            ActionKind::AddNote => "the note's text (at most 10,000 bytes)".into(),
            ActionKind::Notify => "supervisors, owner, team or an agent id".into(),
            ActionKind::Unassign => String::new(),
        };
        return Err(err(
            vpath,
            format!("{value:?} is not valid here; expected {expected}"),
        ));
    }
    let value = match kind {
        ActionKind::AddTag | ActionKind::RemoveTag => normalise_tag(&value).unwrap_or(value),
        _ => value,
    };
    Ok(Action { kind, value })
}

/// Reads and checks a list of actions on its own (a macro's), with paths such as
/// `actions[1].value`.
pub fn parse_actions(v: &Value) -> Result<Vec<Action>, RuleError> {
    let list = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) if a.len() <= MAX_ACTIONS => a,
        _ => {
            return Err(err(
                "actions",
                format!("must be a list of at most {MAX_ACTIONS} actions"),
            ));
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, a)| action(a, &format!("actions[{i}]")))
        .collect()
}

impl Rule {
    /// Reads and checks a rule from its JSON form.
    pub fn parse(v: &Value) -> Result<Rule, RuleError> {
        let obj = v
            .as_object()
            .ok_or_else(|| err("rule", "must be an object"))?;
        for key in obj.keys() {
            if ![
                "name",
                "trigger",
                "conditions",
                "actions",
                "enabled",
                "position",
            ]
            .contains(&key.as_str())
            {
                return Err(err(key.as_str(), "unknown key"));
            }
        }
        let name = text_of(obj.get("name").unwrap_or(&Value::Null), "name")?
            .trim()
            .to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(err("name", "must have 1 to 200 characters"));
        }
        let trigger: Trigger = one_of(
            obj.get("trigger")
                .ok_or_else(|| err("trigger", "is required"))?,
            "trigger",
            Trigger::WORDS,
        )?;
        let empty = Vec::new();
        let conditions = match obj.get("conditions") {
            None | Some(Value::Null) => &empty,
            Some(Value::Array(a)) if a.len() <= MAX_CONDITIONS => a,
            Some(_) => {
                return Err(err(
                    "conditions",
                    format!("must be a list of at most {MAX_CONDITIONS}"),
                ));
            }
        };
        let actions = match obj.get("actions") {
            Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_ACTIONS => a,
            _ => {
                return Err(err(
                    "actions",
                    format!("must be a list of 1 to {MAX_ACTIONS} actions"),
                ));
            }
        };
        Ok(Rule {
            name,
            trigger,
            conditions: conditions
                .iter()
                .enumerate()
                .map(|(i, c)| condition(c, &format!("conditions[{i}]")))
                .collect::<Result<_, _>>()?,
            actions: actions
                .iter()
                .enumerate()
                .map(|(i, a)| action(a, &format!("actions[{i}]")))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether every condition holds for `facts`.
    pub fn matches(&self, facts: &Folded) -> bool {
        self.conditions.iter().all(|c| c.holds(facts))
    }

    /// The fields this rule's conditions read.
    pub fn reads(&self) -> BTreeSet<Field> {
        self.conditions.iter().map(|c| c.field).collect()
    }

    /// The fields this rule's actions change.
    pub fn writes(&self) -> BTreeSet<Field> {
        self.actions
            .iter()
            .filter_map(|a| match a.kind {
                ActionKind::SetPriority => Some(Field::Priority),
                ActionKind::SetTeam => Some(Field::Team),
                ActionKind::Assign | ActionKind::Unassign => Some(Field::Owner),
                ActionKind::AddTag | ActionKind::RemoveTag => Some(Field::Tags),
                ActionKind::SetStatus => Some(Field::Status),
                ActionKind::AddNote | ActionKind::Notify => None,
            })
            .collect()
    }
}

impl Condition {
    fn holds(&self, f: &Folded) -> bool {
        let f = &f.0;
        let single = |v: &Option<String>| v.clone();
        let value = match self.field {
            Field::Subject => Some(f.subject.clone()),
            Field::Text => Some(f.text.clone()),
            Field::Language => single(&f.language),
            Field::Channel => single(&f.channel),
            Field::Inbox => single(&f.inbox_id),
            Field::Team => single(&f.team_id),
            Field::Owner => single(&f.owner_id),
            Field::Priority => single(&f.priority),
            Field::Status => single(&f.status),
            Field::ContactTier => single(&f.contact_tier),
            Field::ContactEmail => single(&f.contact_email),
            Field::ContactRecent => {
                return match (&self.op, &self.test) {
                    (Op::AtLeast, Test::Number(n)) => f.contact_recent >= *n,
                    (Op::IsSet, _) => f.contact_recent > 0,
                    (Op::IsNotSet, _) => f.contact_recent == 0,
                    _ => false,
                };
            }
            Field::Tags => {
                let tags = &f.tags;
                return match (&self.op, &self.test) {
                    (Op::IsSet, _) => !tags.is_empty(),
                    (Op::IsNotSet, _) => tags.is_empty(),
                    (Op::IsNot, Test::Words(w)) => !w.iter().any(|w| tags.contains(w)),
                    (_, Test::Words(w)) => w.iter().any(|w| tags.contains(w)),
                    _ => false,
                };
            }
        };
        let value = value.filter(|v| !v.is_empty());
        match (&self.op, &self.test, value) {
            (Op::IsSet, _, v) => v.is_some(),
            (Op::IsNotSet, _, v) => v.is_none(),
            (Op::Is, Test::Words(w), Some(v)) => w.first() == Some(&v),
            (Op::IsNot, Test::Words(w), v) => v.as_ref() != w.first(),
            (Op::In, Test::Words(w), Some(v)) => w.contains(&v),
            (Op::ContainsAny, Test::Words(w), Some(v)) => w.iter().any(|w| v.contains(w.as_str())),
            (Op::Matches, Test::Pattern(p), Some(v)) => p.is_match(&v),
            _ => false,
        }
    }
}

/// Rules that would set each other off for ever: the names of the first circle found
/// among the rules that run when a conversation is updated, where each rule changes a
/// field the next one reads. A rule that re-reads only its own changes is no circle: a
/// rule runs at most once per conversation in one round of changes.
pub fn find_loop(rules: &[Rule]) -> Option<Vec<String>> {
    let updated: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.trigger == Trigger::Updated)
        .collect();
    let n = updated.len();
    let edges: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let writes = updated[i].writes();
            (0..n)
                .filter(|&j| j != i && !updated[j].reads().is_disjoint(&writes))
                .collect()
        })
        .collect();
    // Depth-first search with colours: a grey node met again closes a circle.
    fn visit(
        i: usize,
        edges: &[Vec<usize>],
        colour: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        colour[i] = 1;
        stack.push(i);
        for &j in &edges[i] {
            if colour[j] == 1 {
                let from = stack.iter().position(|&k| k == j).unwrap_or(0);
                return Some(stack[from..].to_vec());
            }
            if colour[j] == 0
                && let Some(c) = visit(j, edges, colour, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        colour[i] = 2;
        None
    }
    let mut colour = vec![0u8; n];
    for i in 0..n {
        if colour[i] == 0
            && let Some(c) = visit(i, &edges, &mut colour, &mut Vec::new())
        {
            return Some(c.into_iter().map(|k| updated[k].name.clone()).collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> Rule {
        Rule::parse(&v).unwrap()
    }

    fn facts(text: &str) -> Folded {
        Facts {
            subject: "Help".into(),
            text: text.into(),
            priority: Some("normal".into()),
            ..Default::default()
        }
        .fold()
    }

    #[test]
    fn urgent_words_match_in_every_language_whatever_the_case_and_accents() {
        let r = rule(
            json!({"name": "breakdowns", "trigger": "conversation.created",
            "conditions": [{"field": "text", "op": "contains_any",
                            "value": ["broke down", "χάλασε", "ఆగిపోయింది", "nasira"]}],
            "actions": [{"type": "set_priority", "value": "urgent"}]}),
        );
        assert!(r.matches(&facts("My car BROKE DOWN on the highway")));
        assert!(r.matches(&facts("Το αυτοκίνητο ΧΑΛΑΣΕ στην εθνική")));
        assert!(r.matches(&facts("Το αυτοκίνητο χαλασε")));
        assert!(r.matches(&facts("హైవేపై కారు ఆగిపోయింది")));
        assert!(r.matches(&facts("Nasira ang kotse ko sa highway")));
        assert!(!r.matches(&facts("Where is my invoice?")));
    }

    #[test]
    fn a_customer_writing_again_within_the_week_is_a_repeat() {
        let r = rule(json!({"name": "repeat", "trigger": "conversation.created",
            "conditions": [{"field": "contact.recent_conversations", "op": "at_least", "value": 1}],
            "actions": [{"type": "set_priority", "value": "high"}]}));
        let with = |n| {
            Facts {
                contact_recent: n,
                ..Default::default()
            }
            .fold()
        };
        assert!(!r.matches(&with(0)));
        assert!(r.matches(&with(1)));
        assert!(r.matches(&with(3)));
        let bad = |c: Value| {
            Rule::parse(
                &json!({"name": "x", "trigger": "conversation.created", "conditions": [c],
                "actions": [{"type": "add_tag", "value": "x"}]}),
            )
            .unwrap_err()
            .path
        };
        assert_eq!(
            bad(json!({"field": "subject", "op": "at_least", "value": 2})),
            "conditions[0].op"
        );
        assert_eq!(
            bad(json!({"field": "contact.recent_conversations", "op": "is", "value": "2"})),
            "conditions[0].op"
        );
        assert_eq!(
            bad(json!({"field": "contact.recent_conversations", "op": "at_least", "value": "two"})),
            "conditions[0].value"
        );
    }

    #[test]
    fn bad_rules_name_the_part_at_fault() {
        let bad = |v: Value| Rule::parse(&v).unwrap_err();
        let base = |c: Value| {
            json!({"name": "x", "trigger": "conversation.created", "conditions": [c],
                                      "actions": [{"type": "add_tag", "value": "x"}]})
        };
        assert_eq!(
            bad(base(json!({"field": "colour", "op": "is", "value": "red"}))).path,
            "conditions[0].field"
        );
        let e = bad(base(
            json!({"field": "text", "op": "matches", "value": "(unclosed"}),
        ));
        assert_eq!(e.path, "conditions[0].value");
        assert!(e.message.contains("regular expression"), "{e}");
        assert_eq!(
            bad(base(
                json!({"field": "priority", "op": "is", "value": "asap"})
            ))
            .path,
            "conditions[0].value"
        );
        assert_eq!(
            bad(base(
                json!({"field": "priority", "op": "matches", "value": "x"})
            ))
            .path,
            "conditions[0].op"
        );
        assert_eq!(
            bad(json!({"name": "x", "trigger": "whenever", "actions": []})).path,
            "trigger"
        );
        assert_eq!(
            bad(json!({"name": "x", "trigger": "sla.breached", "actions": []})).path,
            "actions"
        );
        assert_eq!(
            bad(json!({"name": "x", "trigger": "sla.breached", "actions": [{"type": "set_team", "value": "billing"}]})).path,
            "actions[0].value"
        );
    }

    #[test]
    fn rules_that_set_each_other_off_are_a_loop_and_one_that_feeds_itself_is_not() {
        let low_to_high = rule(json!({"name": "raise", "trigger": "conversation.updated",
            "conditions": [{"field": "priority", "op": "is", "value": "low"}],
            "actions": [{"type": "set_priority", "value": "high"}]}));
        let high_to_low = rule(json!({"name": "lower", "trigger": "conversation.updated",
            "conditions": [{"field": "priority", "op": "is", "value": "high"}],
            "actions": [{"type": "set_priority", "value": "low"}]}));
        let tagger = rule(json!({"name": "tag vip", "trigger": "conversation.updated",
            "conditions": [{"field": "contact.tier", "op": "is", "value": "vip"}],
            "actions": [{"type": "add_tag", "value": "vip"}]}));
        assert_eq!(find_loop(&[tagger.clone(), low_to_high.clone()]), None);
        assert_eq!(find_loop(std::slice::from_ref(&low_to_high)), None);
        let lp = find_loop(&[tagger, low_to_high, high_to_low]).unwrap();
        assert_eq!(lp, vec!["raise".to_string(), "lower".to_string()]);
    }
}
