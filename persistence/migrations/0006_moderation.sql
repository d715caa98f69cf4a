-- 0006_moderation: chat moderation state. Additive only.
--
-- * chat_settings: per-org blocked words and what to do with a match: 'reject' refuses
--   the message, 'hold' stores it as status 'held' for a moderator to approve.
-- * chat_room_settings: per-room slow mode (minimum seconds between one user's messages).
-- * chat_sanctions: mutes and bans with an end time. A ban also refuses room service
--   calls; a mute only chat. Every sanction is written to audit_log by the hub.
-- * The author index serves slow mode and the per-user rate limit. Created in this
--   transaction (not CONCURRENTLY): acceptable while chat_messages is small; a later
--   index on a large table should ship as its own non-transactional step.

CREATE TABLE chat_settings (
    organization_id uuid PRIMARY KEY REFERENCES organizations(id),
    blocked_words   text[] NOT NULL DEFAULT '{}',
    blocked_action  text NOT NULL DEFAULT 'reject' CHECK (blocked_action IN ('reject', 'hold')),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chat_room_settings (
    organization_id   uuid NOT NULL REFERENCES organizations(id),
    room              text NOT NULL,
    slow_mode_seconds integer NOT NULL DEFAULT 0 CHECK (slow_mode_seconds >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, room)
);

CREATE TABLE chat_sanctions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    user_sub        text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('mute', 'ban')),
    until           timestamptz NOT NULL,
    reason          text,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sanctions_user_idx ON chat_sanctions (organization_id, user_sub, until);

CREATE INDEX chat_messages_author_idx
    ON chat_messages (organization_id, room, author, created_at DESC);

SELECT app_protect_tenant_table(t) FROM unnest(ARRAY[
    'chat_settings',
    'chat_room_settings',
    'chat_sanctions'
]::regclass[]) AS t;
