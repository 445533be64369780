-- An organization's people, found from the organization (its page, the conversation
-- filter). Partial: the many contacts outside any organization add nothing to it.
CREATE INDEX contacts_organization ON contacts(organization_id) WHERE organization_id IS NOT NULL;
