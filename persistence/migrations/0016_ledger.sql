-- 0016_ledger: one append-only money ledger (persistence/ledger.py). Additive only.
--
-- * ledger_entries: every movement of money, one row, in integer cents. kind:
--   payment (the fan paid), platform_fee (our application fee on it), refund (money back
--   to the fan), fee_refund (our fee given back on a refund).
-- * Sign convention: amount_cents is signed from the organization's point of view:
--   payment and fee_refund are positive (money to the org), platform_fee and refund are
--   negative (money away from it). An event's net is sum(amount_cents); what a tip, a
--   bump or a pay-per-view purchase still counts for is the sum over its payment and
--   refund rows. The CHECKs hold the sign to the kind.
-- * target: what the money paid for: tip (target_id = tips.id), bump (song_requests.id),
--   ppv (the stripe_checkouts id of the purchase).
-- * payment_ref ties a payment to its fee and refunds: Stripe's payment intent (else the
--   session or charge id), or 'manual_<uuid>' for a cash entry by an org admin
--   (source 'manual', created_by the admin's sub, a note required; audited).
--   refund_id: Stripe's refund id (or '<charge>@<cumulative cents>' when the event does
--   not list its refunds) on refund and fee_refund rows.
-- * Idempotent by unique keys, whatever order Stripe delivers in and however often: one
--   payment and one platform_fee per payment_ref, one refund and one fee_refund per
--   (payment_ref, refund_id). The keys are global: a Stripe id is one payment anywhere.
-- * Append-only: livehub_app gets SELECT and INSERT only; a correction is a new row.

CREATE TABLE ledger_entries (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id     uuid NOT NULL REFERENCES organizations(id),
    event_id            uuid NOT NULL,
    kind                text NOT NULL
        CHECK (kind IN ('payment', 'platform_fee', 'refund', 'fee_refund')),
    amount_cents        bigint NOT NULL,
    currency            text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
    target              text NOT NULL CHECK (target IN ('tip', 'bump', 'ppv')),
    target_id           uuid NOT NULL,
    payment_ref         text NOT NULL CHECK (length(payment_ref) BETWEEN 1 AND 255),
    refund_id           text CHECK (length(refund_id) BETWEEN 1 AND 255),
    checkout_session_id text,
    payment_intent_id   text,
    charge_id           text,
    source              text NOT NULL CHECK (source IN ('stripe', 'manual')),
    created_by          text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    note                text CHECK (length(note) <= 500),
    created_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    CHECK (CASE WHEN kind IN ('payment', 'fee_refund') THEN amount_cents > 0
                ELSE amount_cents < 0 END),
    CHECK ((kind IN ('refund', 'fee_refund')) = (refund_id IS NOT NULL)),
    CHECK (source = 'stripe' OR (kind = 'payment' AND note IS NOT NULL))
);
CREATE UNIQUE INDEX ledger_one_payment ON ledger_entries (payment_ref, kind)
    WHERE kind IN ('payment', 'platform_fee');
CREATE UNIQUE INDEX ledger_one_refund ON ledger_entries (payment_ref, refund_id, kind)
    WHERE kind IN ('refund', 'fee_refund');
CREATE INDEX ledger_target_idx ON ledger_entries (organization_id, target, target_id);
CREATE INDEX ledger_event_idx ON ledger_entries (organization_id, event_id);

SELECT app_protect_tenant_table('ledger_entries');
REVOKE UPDATE, DELETE, TRUNCATE ON ledger_entries FROM livehub_app;

-- What was paid before the ledger: paid or refunded tips and request bumps, as payments
-- (and their refunds), so goals and rankings derived from the ledger keep their value.
INSERT INTO ledger_entries (organization_id, event_id, kind, amount_cents, target, target_id,
                            payment_ref, payment_intent_id, source, created_by)
SELECT t.organization_id, t.event_id, 'payment', t.amount_cents, 'tip', t.id,
       coalesce(t.stripe_payment_intent_id, 'legacy_' || t.id), t.stripe_payment_intent_id,
       'stripe', 'migration 0016'
FROM tips t WHERE t.status IN ('paid', 'refunded') AND t.event_id IS NOT NULL;
INSERT INTO ledger_entries (organization_id, event_id, kind, amount_cents, target, target_id,
                            payment_ref, refund_id, source, created_by)
SELECT t.organization_id, t.event_id, 'refund', -t.amount_cents, 'tip', t.id,
       coalesce(t.stripe_payment_intent_id, 'legacy_' || t.id), 'legacy', 'stripe',
       'migration 0016'
FROM tips t WHERE t.status = 'refunded' AND t.event_id IS NOT NULL;
INSERT INTO ledger_entries (organization_id, event_id, kind, amount_cents, target, target_id,
                            payment_ref, refund_id, source, created_by)
SELECT p.organization_id, r.event_id, p.kind,
       CASE p.kind WHEN 'payment' THEN p.amount_cents ELSE -p.amount_cents END, 'bump',
       p.request_id, 'legacy_' || p.id,
       CASE p.kind WHEN 'refund' THEN 'legacy' END, 'stripe', 'migration 0016'
FROM song_request_payments p
JOIN song_requests r ON r.organization_id = p.organization_id AND r.id = p.request_id
WHERE r.event_id IS NOT NULL;
