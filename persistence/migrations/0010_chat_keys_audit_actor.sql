-- 0010_chat_keys_audit_actor: audit actors without users rows. No new tables, so RLS is
-- unchanged.
--
-- * audit_log.actor_sub: the token's subject, always recorded. actor_id stays the optional
--   link to users (an FK), set only when such a row exists, so an actor without a users row
--   can never make an audited action fail. Existing rows get their actor_id as subject.

ALTER TABLE audit_log ADD COLUMN actor_sub text;
UPDATE audit_log SET actor_sub = actor_id::text WHERE actor_id IS NOT NULL;
