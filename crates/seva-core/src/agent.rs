//! Agents (users of Seva) and what their role lets them do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::conversation::word_enum;

word_enum!(
    /// What a user may do. Admins manage users and settings; supervisors see and steer every
    /// team's work; agents work on their teams' conversations.
    Role {
        Admin = "admin",
        Supervisor = "supervisor",
        Agent = "agent",
    }
);

impl Role {
    pub fn sees_every_team(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }

    pub fn manages_users(self) -> bool {
        self == Role::Admin
    }
}

/// What the visibility rule needs to know about one conversation.
#[derive(Debug, Clone, Copy)]
pub struct ConversationScope<'a, T: PartialEq> {
    pub team: Option<&'a T>,
    pub team_is_private: bool,
    pub owner_is_viewer: bool,
}

/// Whether an agent may see (and so act on) a conversation: supervisors and admins see all;
/// agents see unassigned and public teams' conversations, their own teams' conversations,
/// and the ones they own, but not another team's private queue (HR, security, …).
pub fn may_see<T: PartialEq>(
    role: Role,
    viewer_teams: &[T],
    scope: ConversationScope<'_, T>,
) -> bool {
    if role.sees_every_team() || scope.owner_is_viewer {
        return true;
    }
    match scope.team {
        None => true,
        Some(team) => !scope.team_is_private || viewer_teams.contains(team),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(team: Option<&u8>, private: bool) -> ConversationScope<'_, u8> {
        ConversationScope {
            team,
            team_is_private: private,
            owner_is_viewer: false,
        }
    }

    #[test]
    fn an_agent_does_not_see_another_teams_private_queue() {
        assert!(!may_see(Role::Agent, &[1], scope(Some(&2), true)));
        assert!(may_see(Role::Agent, &[2], scope(Some(&2), true)));
        assert!(may_see(Role::Agent, &[1], scope(Some(&2), false)));
        assert!(may_see(Role::Agent, &[], scope(None, false)));
        assert!(may_see(Role::Supervisor, &[], scope(Some(&2), true)));
    }

    #[test]
    fn the_owner_always_sees_their_conversation() {
        let s = ConversationScope {
            team: Some(&2),
            team_is_private: true,
            owner_is_viewer: true,
        };
        assert!(may_see(Role::Agent, &[1], s));
    }
}
