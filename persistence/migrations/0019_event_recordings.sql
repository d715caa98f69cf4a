-- 0019_event_recordings: recording the stream through LiveKit Egress. Additive only.
--
-- * event_recordings: one row per recording of an event (a DJ may record, stop and
--   record again). The hub inserts the row as 'starting' before it asks LiveKit, under
--   the event's row lock, so two DJs pressing "record" together start one egress: the
--   partial unique index allows one running recording per event (a second guard besides
--   the lock). egress_id is NULL until LiveKit answers. Status moves forward only:
--   starting -> recording -> stopping -> stopped | failed, from the hub's own calls
--   and LiveKit's egress_* webhooks (deduplicated in webhook_events). Starts and stops
--   are also written to audit_log ('recording.start', 'recording.stop') by the hub.
-- * LiveKit webhooks name the room, which app_livekit_room_event() (0007) maps to the
--   event and org, so no new SECURITY DEFINER lookup is needed.

CREATE TABLE event_recordings (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL,
    egress_id       text CHECK (length(egress_id) BETWEEN 1 AND 200),
    status          text NOT NULL DEFAULT 'starting'
                    CHECK (status IN ('starting', 'recording', 'stopping', 'stopped', 'failed')),
    layout          text NOT NULL,
    started_by      text,  -- the token subject that pressed "record"; 'server' for the API key
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    error           text,  -- LiveKit's reason for a failed recording (shown to DJs)
    file_location   text,  -- where LiveKit says it stored the file, once it says so
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    UNIQUE (organization_id, egress_id),
    CHECK ((status IN ('stopped', 'failed')) = (ended_at IS NOT NULL))
);
CREATE UNIQUE INDEX event_recordings_one_running ON event_recordings (organization_id, event_id)
    WHERE status IN ('starting', 'recording', 'stopping');
CREATE INDEX event_recordings_latest ON event_recordings (organization_id, event_id, started_at DESC);

SELECT app_protect_tenant_table('event_recordings');
