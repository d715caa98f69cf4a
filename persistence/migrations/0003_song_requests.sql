-- 0003_song_requests: what the requests service (rooms/services/requests.py) needs.
-- Additive only.
--
-- * song_requests gains the fan's token `sub` (requester; fans may have no users row),
--   a note, normalised match keys, payment state, the DJ's line-up slot and a decline
--   reason. Status gains 'playing' and 'declined' ('rejected' stays valid for old rows).
-- * payment is 'none' (free), 'pending_payment' (submitted as paid, not yet confirmed:
--   ranks as unpaid), 'paid' (paid_cents > 0) or 'refunded' (every credit taken back).
-- * lineup_rank: requests the DJ has lined up (accepted or moved) come first, in this
--   order; NULL means ranked automatically (paid amount, votes, age).
-- * request_queues: one row per event queue. Every change locks it (SELECT ... FOR
--   UPDATE) and bumps version, so changes to one queue are serialized and a DJ acting on
--   an old version can be told so. It also holds the per-fan cap and the song length
--   used for wait estimates, so both can later be set per event.
-- * song_request_payments: confirmed payments and refunds. Idempotent by
--   (kind, payment_id): a webhook delivered twice credits once.

ALTER TABLE song_requests
    ADD COLUMN requester      text NOT NULL DEFAULT '',
    ADD COLUMN note           text,
    ADD COLUMN title_key      text NOT NULL DEFAULT '',
    ADD COLUMN artist_key     text NOT NULL DEFAULT '',
    ADD COLUMN payment        text NOT NULL DEFAULT 'none'
        CHECK (payment IN ('none', 'pending_payment', 'paid', 'refunded')),
    ADD COLUMN offered_cents  integer NOT NULL DEFAULT 0 CHECK (offered_cents >= 0),
    ADD COLUMN paid_cents     integer NOT NULL DEFAULT 0 CHECK (paid_cents >= 0),
    ADD COLUMN lineup_rank    integer,
    ADD COLUMN decline_reason text,
    ADD COLUMN closed_at      timestamptz;

ALTER TABLE song_requests DROP CONSTRAINT song_requests_status_check;
ALTER TABLE song_requests ADD CONSTRAINT song_requests_status_check
    CHECK (status IN ('pending', 'accepted', 'playing', 'played', 'declined', 'rejected'));

-- A fan's own requests (requests.mine, the per-fan cap).
CREATE INDEX song_requests_requester_idx
    ON song_requests (organization_id, event_id, requester);

CREATE TABLE request_queues (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id   uuid NOT NULL REFERENCES organizations(id),
    event_id          uuid NOT NULL,
    version           bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
    max_open_per_fan  integer NOT NULL DEFAULT 3 CHECK (max_open_per_fan > 0),
    song_seconds      integer NOT NULL DEFAULT 210 CHECK (song_seconds > 0),
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    UNIQUE (organization_id, event_id)
);

CREATE TABLE song_request_payments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    request_id      uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('payment', 'refund')),
    payment_id      text,  -- the provider's id; NULL: not deduplicated
    amount_cents    integer NOT NULL CHECK (amount_cents > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, request_id) REFERENCES song_requests (organization_id, id),
    UNIQUE (organization_id, kind, payment_id)
);
CREATE INDEX song_request_payments_request_idx
    ON song_request_payments (organization_id, request_id);

SELECT app_protect_tenant_table(t) FROM unnest(ARRAY[
    'request_queues',
    'song_request_payments'
]::regclass[]) AS t;
