-- Where each login came from, so that an agent can recognise their own browsers under
-- Settings and log out the ones they do not (a shared computer, a lost laptop).
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
