-- 0008_stripe: Stripe Connect payments (integrations/stripe_*.py). Additive only.
--
-- * organizations.stripe_synced_at: the `created` time of the account.updated event the
--   charges/payouts flags were last taken from, so an older event delivered late cannot
--   switch payments back off (Stripe does not deliver in order).
-- * stripe_checkouts: one row per Checkout Session we created (tip, request bump or
--   pay-per-view). Its id is the idempotency basis of the Stripe call (for a tip it is
--   also the tip id). status: open -> paid | failed | refunded. A refund that arrives
--   before the completion marks an open row 'refunded', so the later completion is a
--   no-op. Every webhook for a checkout locks this row first: deliveries for one payment
--   are applied one at a time.
-- * app_stripe_checkout_org(): the server API (refunds) names a tip, and Stripe's
--   charge.refunded names a payment intent; neither comes with a tenant context. Like
--   app_org_for_stripe_account() these return only ids, never the row.

ALTER TABLE organizations ADD COLUMN stripe_synced_at timestamptz;

CREATE TABLE stripe_checkouts (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations(id),
    event_id          uuid NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('tip', 'request', 'ppv')),
    tip_id            uuid,
    request_id        uuid,
    user_sub          text NOT NULL,  -- the payer's hub token sub
    user_id           uuid REFERENCES users(id),  -- set when sub is a users row (ppv needs it)
    amount_cents      integer NOT NULL CHECK (amount_cents > 0),
    fee_cents         integer NOT NULL CHECK (fee_cents >= 0 AND fee_cents < amount_cents),
    status            text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'paid', 'failed', 'refunded')),
    session_id        text UNIQUE,
    payment_intent_id text UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    paid_at           timestamptz,
    refunded_at       timestamptz,
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    FOREIGN KEY (organization_id, tip_id) REFERENCES tips (organization_id, id),
    FOREIGN KEY (organization_id, request_id) REFERENCES song_requests (organization_id, id),
    CHECK ((kind = 'tip') = (tip_id IS NOT NULL)),
    CHECK ((kind = 'request') = (request_id IS NOT NULL))
);
CREATE INDEX stripe_checkouts_event_idx ON stripe_checkouts (organization_id, event_id);

SELECT app_protect_tenant_table('stripe_checkouts');

-- A checkout's org, by our id (a tip id is its checkout's id) or by Stripe's payment intent.
CREATE FUNCTION app_stripe_checkout_org(checkout uuid, payment_intent text)
    RETURNS TABLE (checkout_id uuid, organization_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT c.id, c.organization_id FROM public.stripe_checkouts c
        WHERE c.id = checkout OR c.payment_intent_id = payment_intent
        LIMIT 1
    $$;
REVOKE ALL ON FUNCTION app_stripe_checkout_org(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_stripe_checkout_org(uuid, text) TO livehub_app;
