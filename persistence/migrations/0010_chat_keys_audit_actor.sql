-- 0010_chat_keys_audit_actor: per-author chat idempotency, audit actors without users rows,
-- and a version for the blocked-word list. No new tables, so RLS is unchanged.
--
-- * chat_messages: a client's retry key is (org, room, author, client_msg_id). Scoped by
--   room alone, one fan could reuse another's client_msg_id and have their own message
--   silently dropped (acknowledged, broadcast, never stored). A unique index on an
--   expression, so rows without an author (not written by the hub) still dedupe among
--   themselves as before. Built in this transaction (not CONCURRENTLY): acceptable while
--   chat_messages is small, as in 0006.
-- * audit_log.actor_sub: the token's subject, always recorded. actor_id stays the optional
--   link to users (an FK), set only when such a row exists, so an actor without a users row
--   can never make an audited action fail. Existing rows get their actor_id as subject.
-- * chat_settings.version: a new value on every write of the row, from a sequence so no
--   value is ever reused (not even if a row is deleted and made again). Hubs cache the
--   compiled blocked-word matcher per org keyed by it, and read only the version per
--   message instead of the whole list.

ALTER TABLE chat_messages
    DROP CONSTRAINT chat_messages_organization_id_room_client_msg_id_key;
CREATE UNIQUE INDEX chat_messages_retry_key
    ON chat_messages (organization_id, room, (coalesce(author, '')), client_msg_id);

ALTER TABLE audit_log ADD COLUMN actor_sub text;
UPDATE audit_log SET actor_sub = actor_id::text WHERE actor_id IS NOT NULL;

CREATE SEQUENCE chat_settings_version_seq;
ALTER TABLE chat_settings
    ADD COLUMN version bigint NOT NULL DEFAULT nextval('chat_settings_version_seq');
GRANT USAGE ON SEQUENCE chat_settings_version_seq TO livehub_app;
