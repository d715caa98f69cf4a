-- 0005_tip_alerts: the tips service's alert queue and goal progress. Additive only.
--
-- * tips gains from_name (who to thank on screen) and refunded_at, plus UNIQUE
--   (organization_id, id) so tip_alerts can point at it with a composite FK.
-- * events.tip_alert_timeout_ms: how long an unacknowledged alert shows in this event
--   (NULL: the hub default, HUB_TIP_ALERT_TIMEOUT).
-- * tip_alert_state: one row per event, the lock that serialises every queue change and
--   the queue's version (bumped once per room event).
-- * tip_alerts: one alert per tip, ever (UNIQUE (organization_id, tip_id)): a payment
--   confirmed twice cannot alert twice.
-- * tip_refunds: refunds that arrived before the payment they reverse (webhooks come in
--   any order); a later tips.paid for such a tip records it as refunded and counts nothing.

ALTER TABLE tips ADD COLUMN from_name text;
ALTER TABLE tips ADD COLUMN refunded_at timestamptz;
ALTER TABLE tips ADD CONSTRAINT tips_organization_id_id_key UNIQUE (organization_id, id);
CREATE INDEX tips_event_paid_idx ON tips (organization_id, event_id) WHERE status = 'paid';

ALTER TABLE events ADD COLUMN tip_alert_timeout_ms integer
    CHECK (tip_alert_timeout_ms > 0);

CREATE TABLE tip_alert_state (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL,
    version         bigint NOT NULL DEFAULT 0,
    next_seq        bigint NOT NULL DEFAULT 1,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    UNIQUE (organization_id, event_id)
);

CREATE TABLE tip_alerts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL,
    tip_id          uuid NOT NULL,
    seq             bigint NOT NULL,  -- arrival order within the event
    priority        boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'showing', 'acked', 'timed_out', 'refunded', 'expired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    shown_at        timestamptz,
    done_at         timestamptz,
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    FOREIGN KEY (organization_id, tip_id) REFERENCES tips (organization_id, id),
    UNIQUE (organization_id, tip_id)
);
-- The live part of a queue (what snapshots and "what shows next" read) stays small.
CREATE INDEX tip_alerts_queue_idx ON tip_alerts (organization_id, event_id, priority DESC, seq)
    WHERE status IN ('waiting', 'showing');

CREATE TABLE tip_refunds (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL,
    tip_id          uuid NOT NULL,  -- no FK: the tip may not exist yet
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    UNIQUE (organization_id, tip_id)
);

SELECT app_protect_tenant_table(t) FROM unnest(ARRAY[
    'tip_alert_state',
    'tip_alerts',
    'tip_refunds'
]::regclass[]) AS t;
