-- 0009_sms_agents: what the Twilio SMS integration and its AI agents need
-- (integrations/twilio_sms.py, integrations/agents.py). Additive only.
--
-- * organizations.sms_number: the org's Twilio number (E.164). An inbound SMS names the
--   number it was sent To, not an org, and arrives with no tenant context:
--   app_org_for_sms_number() is the one sanctioned lookup from number to org id
--   (SECURITY DEFINER, returns only the id, like app_event_org in 0002).
-- * sms_opt_outs: STOP / START per org and phone. No row means never opted out. The
--   latest keyword wins; every outbound SMS checks it first.
-- * service_prices: what the pricing agent quotes from (per org, per service).
-- * booking_inquiries, follow_up_tasks: what the booking and follow-up agents create
--   for the org's staff to act on; phone is the fan's number.
-- * sms_messages.twilio_sid is already UNIQUE (0001); inbound webhooks are also
--   deduplicated in webhook_events (provider 'twilio', event_id = MessageSid).

ALTER TABLE organizations ADD COLUMN sms_number text UNIQUE
    CHECK (sms_number ~ '^\+[1-9][0-9]{6,14}$');

CREATE FUNCTION app_org_for_sms_number(number text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT id FROM public.organizations WHERE sms_number = number $$;
REVOKE ALL ON FUNCTION app_org_for_sms_number(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_org_for_sms_number(text) TO livehub_app;

CREATE TABLE sms_opt_outs (
    organization_id uuid NOT NULL REFERENCES organizations(id),
    phone           text NOT NULL,
    opted_out       boolean NOT NULL,
    keyword         text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, phone)
);

CREATE TABLE service_prices (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    service         text NOT NULL,
    hourly_cents    integer NOT NULL CHECK (hourly_cents > 0),
    minimum_hours   integer NOT NULL DEFAULT 1 CHECK (minimum_hours > 0),
    UNIQUE (organization_id, service)
);

CREATE TABLE booking_inquiries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    phone           text NOT NULL,
    event_date      date NOT NULL,
    event_type      text NOT NULL,
    guests          integer CHECK (guests > 0),
    notes           text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'contacted', 'closed')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_inquiries_org_idx ON booking_inquiries (organization_id, created_at);

CREATE TABLE follow_up_tasks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    phone           text NOT NULL,
    summary         text NOT NULL,
    due_date        date,
    done            boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX follow_up_tasks_org_idx ON follow_up_tasks (organization_id, done, created_at);

SELECT app_protect_tenant_table(t) FROM unnest(ARRAY[
    'sms_opt_outs',
    'service_prices',
    'booking_inquiries',
    'follow_up_tasks'
]::regclass[]) AS t;
