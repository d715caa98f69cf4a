-- 0002_hub_chat: what the hub needs to persist room chat. Additive only.
--
-- * chat_messages.author: the token's `sub`. Tokens may name people who have no users
--   row (guests, SMS fans), so user_id stays an optional link and author is always set.
-- * The id clients see and dedupe on is client_msg_id: the client's own, or a uuid the
--   hub makes, so every hub-written row has one.
-- * app_event_org(): the one cross-tenant fact the hub needs before it knows a caller's
--   tenant context is valid for a room: which org owns event X. SECURITY DEFINER, returns
--   only the org id, never the row.

ALTER TABLE chat_messages ADD COLUMN author text;

CREATE FUNCTION app_event_org(event uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT organization_id FROM public.events WHERE id = event $$;
REVOKE ALL ON FUNCTION app_event_org(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_event_org(uuid) TO livehub_app;
