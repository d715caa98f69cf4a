-- 0011_tip_alert_sweep: tip alert timeouts survive the node that scheduled them. Additive.
--
-- A showing alert's deadline is stored already: shown_at + the event's
-- tip_alert_timeout_ms (or the hub default). Every hub node sweeps for alerts past that
-- deadline (rooms/services/tips_sweep.py) and finishes them through the tips queue's
-- locked path, so a node killed or stopped mid-alert no longer leaves it on screen.
--
-- * tip_alerts_showing_idx: the sweep reads only showing alerts (one per event at most).
-- * app_overdue_tip_alerts(): the sweep runs with no tenant context, like the other
--   app_* lookups it returns ids only; the work itself then runs under the event's org.

CREATE INDEX tip_alerts_showing_idx ON tip_alerts (shown_at) WHERE status = 'showing';

CREATE FUNCTION app_overdue_tip_alerts(default_timeout_ms integer, max_rows integer)
    RETURNS TABLE (organization_id uuid, event_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT a.organization_id, a.event_id
        FROM public.tip_alerts a
        JOIN public.events e ON e.organization_id = a.organization_id AND e.id = a.event_id
        WHERE a.status = 'showing'
          AND a.shown_at + make_interval(
                secs => coalesce(e.tip_alert_timeout_ms, default_timeout_ms) / 1000.0)
              <= now()
        ORDER BY a.shown_at
        LIMIT max_rows
    $$;
REVOKE ALL ON FUNCTION app_overdue_tip_alerts(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_overdue_tip_alerts(integer, integer) TO livehub_app;
