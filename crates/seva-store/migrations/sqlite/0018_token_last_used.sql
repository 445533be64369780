-- When each API token was last used (to within minutes), so that admins can tell a token a
-- script still uses from one nobody needs before they revoke it.
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
