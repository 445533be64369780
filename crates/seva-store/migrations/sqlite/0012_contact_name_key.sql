-- A contact's name folded for search (case, Greek and Latin accents, final sigma: see
-- seva_core::text::fold), written with the name. SQL's lower() knows only ASCII on
-- SQLite and no accents anywhere, so "ελενη" never found "Ελένη". The migration runner
-- fills it for contacts that existed before.
ALTER TABLE contacts ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
