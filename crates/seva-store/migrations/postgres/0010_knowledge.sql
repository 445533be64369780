-- The knowledge base: articles for the public help center and for agents, in several
-- languages (a translation group shares the original's id), with every revision kept.

CREATE TABLE kb_categories (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    -- The category's name by language: {"en": "Billing", "te": "..."}.
    names TEXT NOT NULL DEFAULT '{}',
    position BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    -- The original article's id; its translations share it.
    group_id TEXT NOT NULL,
    lang TEXT NOT NULL,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    -- Markdown as written, and the safe HTML made of it.
    body TEXT NOT NULL,
    html TEXT NOT NULL,
    category_id TEXT REFERENCES kb_categories(id) ON DELETE SET NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'internal')),
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    author_id TEXT REFERENCES agents(id),
    revision BIGINT NOT NULL DEFAULT 1,
    -- For a translation: the original's revision it was last brought up to.
    source_revision BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (group_id, lang),
    UNIQUE (lang, slug)
);
CREATE INDEX articles_group ON articles(group_id);

CREATE TABLE article_revisions (
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    revision BIGINT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    author_id TEXT,
    note TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (article_id, revision)
);

-- "Was this helpful?" from the help center, or the answer to the bot's question.
CREATE TABLE article_feedback (
    id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    helpful BIGINT NOT NULL,
    comment TEXT,
    source TEXT NOT NULL CHECK (source IN ('help_center', 'bot')),
    created_at BIGINT NOT NULL
);
CREATE INDEX article_feedback_article ON article_feedback(article_id);

-- An agent's word that an article is wrong or out of date; it reaches the author.
CREATE TABLE article_flags (
    id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    resolved_at BIGINT
);

-- The answering bot's part in a conversation, before a person takes it.
CREATE TABLE bot_conversations (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('answering', 'offered', 'handed_off', 'self_served')),
    -- The team the conversation goes to when the bot hands it over.
    team_id TEXT,
    lang TEXT,
    rounds BIGINT NOT NULL DEFAULT 0,
    reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE bot_offers (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    lang TEXT NOT NULL,
    -- The share of the question's words the article holds, in thousandths.
    confidence BIGINT NOT NULL,
    outcome TEXT CHECK (outcome IN ('solved', 'not_solved', 'handed_off')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, article_id)
);
CREATE INDEX bot_offers_article ON bot_offers(article_id);
