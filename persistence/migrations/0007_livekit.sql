-- 0007_livekit: live video through LiveKit. Additive only.
--
-- * events.viewer_count: visible participants in the event's LiveKit room, as the
--   hub last computed it from webhooks (a cache of livekit_participants, for readers).
-- * livekit_participants: one row per (event, identity) with whether LiveKit last said
--   it is present and when. The count is recomputed from these rows, so a redelivered
--   or reordered participant_joined/left cannot count anyone twice or go negative.
--   (Webhook ids are also deduplicated in webhook_events, provider 'livekit'.)
-- * app_livekit_room_event(): LiveKit webhooks name a room, not an org, and arrive with
--   no tenant context. Like app_event_org() it returns only ids, never the row, so the
--   hub can then do the work under that org's tenant_tx. A room is the event's
--   livekit_room, or 'event-<uuid>' while livekit_room is still NULL (viewers may join,
--   and LiveKit auto-create the room, before anyone pressed "go live").

ALTER TABLE events ADD COLUMN viewer_count integer NOT NULL DEFAULT 0
    CHECK (viewer_count >= 0);

CREATE TABLE livekit_participants (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL,
    identity        text NOT NULL,
    present         boolean NOT NULL,
    changed_at      timestamptz NOT NULL,  -- the webhook's created_at, for ordering
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    UNIQUE (organization_id, event_id, identity)
);
CREATE INDEX livekit_participants_present_idx ON livekit_participants (organization_id, event_id)
    WHERE present;

SELECT app_protect_tenant_table('livekit_participants');

CREATE FUNCTION app_livekit_room_event(room text)
    RETURNS TABLE (event_id uuid, organization_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT e.id, e.organization_id FROM public.events e WHERE e.livekit_room = room
        UNION ALL
        -- CASE, not AND: the uuid cast must never see a name that is not one.
        SELECT e.id, e.organization_id FROM public.events e
        WHERE e.livekit_room IS NULL
          AND e.id = CASE WHEN room ~ '^event-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                          THEN substr(room, 7)::uuid END
        LIMIT 1
    $$;
REVOKE ALL ON FUNCTION app_livekit_room_event(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_livekit_room_event(text) TO livehub_app;
