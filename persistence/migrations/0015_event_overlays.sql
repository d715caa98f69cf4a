-- 0015_event_overlays: a secret of its own for each event's OBS overlay. Additive only.
--
-- An overlay page used to connect with a staff token (tips.ack is staff-only), handing
-- a streamer's staff powers to a URL pasted into OBS. Now the hub mints an overlay
-- credential per event (POST /api/events/{id}/overlay) that may only watch that event
-- room and acknowledge its tip alerts (rooms/access.py, role `overlay`).
--
-- * event_overlays: one row per event. Only the sha256 of the secret is stored, so a
--   leaked database does not leak working overlay URLs. `version` counts rotations:
--   every hub closes open overlay connections holding an older one. Each rotation is
--   also written to audit_log ('overlay.rotate') by the hub, in the same transaction.
-- * app_overlay_by_hash(): the overlay page has no token, so the hub resolves a
--   presented secret before it knows the tenant. SECURITY DEFINER, like app_event_org()
--   it returns ids and the version only, never the hash.

CREATE TABLE event_overlays (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL UNIQUE,
    secret_hash     bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    version         integer NOT NULL DEFAULT 1 CHECK (version > 0),
    rotated_at      timestamptz NOT NULL DEFAULT now(),
    rotated_by      text,  -- the token subject that rotated it; NULL: the server API
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id)
);

SELECT app_protect_tenant_table('event_overlays'::regclass);

CREATE FUNCTION app_overlay_by_hash(hash bytea)
    RETURNS TABLE (organization_id uuid, event_id uuid, version integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT o.organization_id, o.event_id, o.version
        FROM public.event_overlays o WHERE o.secret_hash = hash
    $$;
REVOKE ALL ON FUNCTION app_overlay_by_hash(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_overlay_by_hash(bytea) TO livehub_app;
