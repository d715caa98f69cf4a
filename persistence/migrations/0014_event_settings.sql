-- 0014_event_settings: events run without SQL (hub/api_events.py). Additive, except the
-- status CHECK and the public read policy, which are replaced.
--
-- * events.status gains 'cancelled' (scheduled -> cancelled; the lifecycle lives in
--   persistence/events.py).
-- * events.visibility: 'public' events are listed to anonymous visitors and hand out guest
--   tokens; 'private' ones do neither.
-- * events.{tips,requests,karaoke}_enabled: per-event feature toggles, filled at creation
--   from the org's product_context (persistence/events.py FEATURE_DEFAULTS); the room
--   services refuse a disabled feature's methods (rooms/services/event_gate.py).
-- * The other settings already have homes the services read: events.tip_goal_cents,
--   events.tip_alert_timeout_ms, events.ppv_price_cents, request_queues.max_open_per_fan
--   and song_seconds, karaoke_queues.max_active and slot_seconds. Nothing is duplicated.
-- No new table, so no new RLS: events keeps 0001's tenant policy.

ALTER TABLE events
    ADD COLUMN visibility       text NOT NULL DEFAULT 'public'
        CHECK (visibility IN ('public', 'private')),
    ADD COLUMN tips_enabled     boolean NOT NULL DEFAULT true,
    ADD COLUMN requests_enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN karaoke_enabled  boolean NOT NULL DEFAULT true,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT events_title_length CHECK (length(title) BETWEEN 1 AND 200) NOT VALID;

ALTER TABLE events DROP CONSTRAINT events_status_check;
ALTER TABLE events ADD CONSTRAINT events_status_check
    CHECK (status IN ('scheduled', 'live', 'ended', 'cancelled'));

-- Listing an org's events newest first, optionally by status.
CREATE INDEX events_org_created_idx ON events (organization_id, created_at DESC);

-- Anonymous visitors read scheduled and live events, now only the public ones.
DROP POLICY public_read ON events;
CREATE POLICY public_read ON events FOR SELECT
    USING (app_org_id() IS NULL AND status IN ('scheduled', 'live') AND visibility = 'public');
