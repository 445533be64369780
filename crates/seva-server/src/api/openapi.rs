//! The OpenAPI 3.1 document at `/api/openapi.json`, generated from the handlers'
//! annotations. What every operation shares (its path parameters, the errors any call may
//! meet, the problem documents' media type, a description for each answer) is added here
//! once, from the routes themselves, instead of being repeated on 120 handlers.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Type};

use super::{
    contacts, conversations, events, inboxes, knowledge, routing, rules, sla, teams, tokens, tools,
    webhooks, work,
};
use crate::problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(title = "Seva API", description = "Conversations, contacts, agents and teams of a Seva help desk."),
    paths(
        conversations::create, conversations::list, conversations::get_one, conversations::messages,
        conversations::post_message, conversations::assign, conversations::status, conversations::priority, conversations::snooze,
        conversations::tags, conversations::followers, conversations::spam, conversations::subject, conversations::copy, conversations::fields, conversations::events, conversations::redact,
        contacts::list, contacts::create, contacts::get_one, contacts::update, contacts::merge, contacts::add_identity, contacts::remove_identity, contacts::export, contacts::erase, contacts::organizations, contacts::create_organization,
        contacts::organization, contacts::update_organization, contacts::delete_organization,
        teams::list, teams::create, teams::add_member, teams::remove_member,
        teams::agents, teams::create_agent, teams::disable_agent, teams::reset_password, teams::turn_off_two_step, teams::me, teams::tags,
        tokens::list, tokens::create, tokens::revoke,
        inboxes::list, inboxes::create, inboxes::get_one, inboxes::update,
        routing::team, routing::set_team, routing::agent, routing::set_agent,
        sla::calendars, sla::create_calendar, sla::policies, sla::create_policy, sla::conversation_clocks,
        rules::list, rules::get_one, rules::create, rules::update, rules::delete, rules::dry_run,
        work::transfer, work::transfer_done, work::transfers_of, work::tasks, work::task_done,
        work::my_notifications, work::read_notification, work::notification_settings, work::set_notification_settings, work::team_queue, work::queues,
        work::presence, work::announce,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
        tools::create_macro, tools::list_macros, tools::update_macro, tools::delete_macro, tools::apply_macro, tools::bulk, tools::merge, tools::split,
        tools::create_field, tools::list_fields, tools::delete_field,
        tools::create_view, tools::list_views, tools::delete_view, tools::view_conversations,
        events::feed, events::audit, events::jobs, events::retry_job, events::attachment, events::original,
        knowledge::list, knowledge::create, knowledge::get_one, knowledge::update, knowledge::delete,
        knowledge::translations, knowledge::revisions, knowledge::diff, knowledge::restore,
        knowledge::flag, knowledge::flags, knowledge::helpfulness, knowledge::coverage,
        knowledge::categories, knowledge::create_category, knowledge::search, knowledge::suggestions, knowledge::bot_stats,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth, &Shared),
    security(("token" = []))
)]
pub struct ApiDoc;

/// The document, as JSON: built once, on the first request (it is nearly 500 KB and
/// takes milliseconds to make), and the same bytes after.
pub async fn serve() -> Response {
    static DOCUMENT: OnceLock<Option<Bytes>> = OnceLock::new();
    let document =
        DOCUMENT.get_or_init(|| ApiDoc::openapi().to_pretty_json().ok().map(Bytes::from));
    match document {
        Some(json) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json.clone(),
        )
            .into_response(),
        None => Problem::internal().into_response(),
    }
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// What every operation shares, added to each.
struct Shared;

const PROBLEM: &str = "application/problem+json";

impl utoipa::Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let names = path_parameters(path);
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(op, &names);
            }
        }
    }
}

/// The `{name}` parts of a path template, in order.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn complete(op: &mut Operation, names: &[&str]) {
    // Path parameters: each `{name}` of the route, a string (ids, numbers and names all
    // travel as text; one that names nothing is a 404).
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in names {
        let declared = params.iter().any(
            |p| matches!(p, RefOr::T(p) if p.name == *name && p.parameter_in == ParameterIn::Path),
        );
        if !declared {
            params.push(RefOr::T(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(Some(path_parameter_description(name)))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ));
        }
    }
    if params.is_empty() {
        op.parameters = None;
    }
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    let has_body = op.request_body.is_some();

    // The errors any call may meet, beyond those its handler names.
    let mut shared: Vec<(&str, &str)> = vec![
        (
            "401",
            "No session and no valid API token, or the agent is disabled",
        ),
        (
            "403",
            "The agent's role may not do this; or, from a browser session, a change came without its CSRF token",
        ),
        (
            "429",
            "The agent made more calls in the last minute than the server's `api_calls_per_minute` allows; `Retry-After` says in how many seconds to try again",
        ),
    ];
    if !names.is_empty() {
        shared.push(("404", "Nothing the agent may see has this id"));
    }
    if has_body {
        shared.push(("400", "The body could not be read"));
        shared.push((
            "409",
            "In conflict with what is stored, such as a name already taken",
        ));
        shared.push(("413", "The body is larger than the server takes"));
    }
    if has_body || has_query || !names.is_empty() {
        shared.push((
            "422",
            "A value is missing, of the wrong type or not allowed; `field` names it",
        ));
    }
    let responses = &mut op.responses.responses;
    for (status, description) in shared {
        responses.entry(status.to_string()).or_insert_with(|| {
            let mut response = ResponseBuilder::new()
                .description(description)
                .content(PROBLEM, problem_content());
            if status == "429" {
                response = response.header(
                    "Retry-After",
                    utoipa::openapi::header::HeaderBuilder::new()
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(1)),
                        ))
                        .description(Some("Seconds until the next call is allowed"))
                        .build(),
                );
            }
            RefOr::T(response.build())
        });
    }

    // Each answer says what it is, and errors are problem documents.
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if response.description.is_empty() {
            response.description = status_description(status).to_string();
        }
        if let Some(json) = response.content.shift_remove("application/json") {
            let is_problem = matches!(
                &json,
                RefOr::T(c) if matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"))
            );
            let kind = if is_problem {
                PROBLEM
            } else {
                "application/json"
            };
            response.content.insert(kind.to_string(), json);
        }
    }
}

fn problem_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

fn path_parameter_description(name: &str) -> String {
    match name {
        "id" => "The id of the object the path names".to_string(),
        other => format!("The {}", other.replace('_', " ")),
    }
}

fn status_description(status: &str) -> &'static str {
    match status {
        "200" => "The answer",
        "201" => "Created",
        "202" => "Accepted; the work goes on in the background",
        "204" => "Done; nothing to answer",
        "304" => "Not modified",
        "400" => "The request could not be read",
        "401" => "Not logged in",
        "403" => "Not allowed",
        "404" => "Not found",
        "409" => "In conflict with what is stored",
        "413" => "Too large",
        "422" => "A value is missing, of the wrong type or not allowed; `field` names it",
        "429" => "Too many requests; try again later",
        "503" => "Not ready yet; try again shortly",
        _ => "An answer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document holds up as OpenAPI 3.1: every path parameter declared, every answer
    /// described, every operation named once, and errors typed as problem documents.
    #[test]
    fn every_operation_declares_its_parameters_and_answers() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = std::collections::HashSet::new();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let at = format!("{method} {path}");
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(ids.insert(id.to_string()), "{at}: operationId {id:?} twice");
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                for name in path_parameters(path) {
                    let declared = params
                        .iter()
                        .find(|p| p["name"] == name && p["in"] == "path");
                    let p = declared.unwrap_or_else(|| panic!("{at}: {{{name}}} is not declared"));
                    assert_eq!(p["required"], true, "{at}: {name}");
                }
                let responses = op["responses"].as_object().unwrap();
                assert!(responses.contains_key("401"), "{at}: no 401");
                assert!(
                    responses["429"]["headers"]["Retry-After"].is_object(),
                    "{at}: no 429 with its Retry-After"
                );
                for (status, r) in responses {
                    assert!(
                        r["description"].as_str().is_some_and(|d| !d.is_empty()),
                        "{at} {status}: no description"
                    );
                    let content = r["content"].as_object().cloned().unwrap_or_default();
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(content.contains_key(PROBLEM), "{at} {status}: {content:?}");
                        assert!(!content.contains_key("application/json"), "{at} {status}");
                    }
                }
            }
        }
        assert!(operations >= 120, "{operations} operations");
    }

    #[test]
    fn path_parameters_are_read_from_the_template() {
        assert_eq!(
            path_parameters("/api/v1/teams/{id}/members/{agent_id}"),
            ["id", "agent_id"]
        );
        assert!(path_parameters("/api/v1/teams").is_empty());
    }
}
