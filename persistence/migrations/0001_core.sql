-- 0001_core: tenants, people, events, chat, requests, money, SMS, audit, and the RLS
-- that keeps one organization's rows away from another's.
--
-- Tenant model
--   * Every tenant table has organization_id uuid not null references organizations(id)
--     (organizations itself is keyed by id). Each has ENABLE + FORCE ROW LEVEL SECURITY,
--     so even the table owner is filtered unless it is a superuser.
--   * Policies read transaction-local claims that persistence/tenant.py sets with
--     set_config(..., true): app.org_id, app.user_id, app.role. Missing or empty claims
--     become NULL, and `organization_id = NULL` is never true, so no context sees nothing.
--     A claim that is not a uuid makes the cast raise: that fails closed too.
--   * A platform admin (user in platform_admins) sees and writes every tenant's rows.
--   * Intra-tenant references are composite FKs (organization_id, x_id): FK checks bypass
--     RLS, so a single-column FK would let org A point at org B's event.
--   * The app connects as livehub_app: LOGIN, NOSUPERUSER, NOBYPASSRLS. The migration runs
--     as the owner (the DATABASE_URL user). Later migrations must grant on their own tables.
--
-- No BEGIN/COMMIT here: persistence/migrate.py runs each file in its own transaction.

-- Application role. Roles are cluster-wide, so create it only if missing, tolerate a
-- concurrent creator (another database migrating at the same moment), and refuse to run
-- if someone has given the existing role powers that bypass RLS.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'livehub_app') THEN
        BEGIN
            CREATE ROLE livehub_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'livehub_app'
               AND (rolsuper OR rolbypassrls OR NOT rolcanlogin)) THEN
        RAISE EXCEPTION 'role livehub_app must be LOGIN NOSUPERUSER NOBYPASSRLS';
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO livehub_app', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO livehub_app;

-- Claim readers. Plain SQL functions so the planner inlines them into policies.
CREATE FUNCTION app_org_id() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;
CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
CREATE FUNCTION app_role() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.role', true), '') $$;

-- users is GLOBAL: one person (one phone/email) can belong to several organizations,
-- so it has no organization_id. It is still RLS-protected: a user row is readable only
-- by that user, by members of an organization that user belongs to, or a platform admin.
CREATE TABLE users (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    display_name text NOT NULL,
    email        text UNIQUE,
    phone        text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Platform staff. NOT tenant data and not granted to livehub_app at all: the only way
-- in is app_is_platform_admin() below.
CREATE TABLE platform_admins (
    user_id    uuid PRIMARY KEY REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- SECURITY DEFINER so the app role can ask "is the claimed user an admin?" without
-- being able to read the table; pinned search_path so a caller cannot shadow objects.
-- It trusts app.user_id: only the hub sets claims, from a verified token.
CREATE FUNCTION app_is_platform_admin() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM public.platform_admins
            WHERE user_id = nullif(current_setting('app.user_id', true), '')::uuid)
    $$;
REVOKE ALL ON FUNCTION app_is_platform_admin() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_is_platform_admin() TO livehub_app;

CREATE TABLE organizations (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL,
    slug               text NOT NULL UNIQUE,
    product_context    text NOT NULL CHECK (product_context IN ('tipjar', 'djdash', 'm10dj')),
    stripe_account_id  text UNIQUE,
    charges_enabled    boolean NOT NULL DEFAULT false,
    payouts_enabled    boolean NOT NULL DEFAULT false,
    owner_id           uuid REFERENCES users(id),
    tip_priority_cents integer CHECK (tip_priority_cents >= 0),
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Stripe Connect webhooks name an account, not an org, and arrive with no tenant
-- context: this is the one sanctioned lookup from account to org.
CREATE FUNCTION app_org_for_stripe_account(account text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT id FROM public.organizations WHERE stripe_account_id = account $$;
REVOKE ALL ON FUNCTION app_org_for_stripe_account(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_org_for_stripe_account(text) TO livehub_app;

CREATE TABLE memberships (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    user_id         uuid NOT NULL REFERENCES users(id),
    role            text NOT NULL
        CHECK (role IN ('owner', 'admin', 'dj', 'moderator', 'performer', 'viewer')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    title           text NOT NULL,
    starts_at       timestamptz,
    status          text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'live', 'ended')),
    livekit_room    text UNIQUE,
    ppv_price_cents integer CHECK (ppv_price_cents >= 0),
    tip_goal_cents  integer CHECK (tip_goal_cents >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id)  -- target of the composite FKs below
);
CREATE INDEX events_org_starts_idx ON events (organization_id, starts_at);
CREATE INDEX events_public_idx ON events (status) WHERE status IN ('scheduled', 'live');

CREATE TABLE chat_messages (
    id              bigserial PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid,
    room            text NOT NULL,
    user_id         uuid REFERENCES users(id),
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'visible' CHECK (status IN ('visible', 'held', 'deleted')),
    hub_offset      bigint,
    client_msg_id   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    -- Idempotent client retries. Scoped by org as well as room so that one tenant cannot
    -- suppress another's messages by guessing a room name and client_msg_id.
    UNIQUE (organization_id, room, client_msg_id)
);
CREATE INDEX chat_messages_event_page_idx ON chat_messages (event_id, id DESC);
CREATE INDEX chat_messages_room_page_idx ON chat_messages (organization_id, room, id DESC);

CREATE TABLE song_requests (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL,
    requested_by    uuid REFERENCES users(id),
    fan_name        text,
    song_title      text NOT NULL,
    artist          text,
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'accepted', 'played', 'rejected')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    UNIQUE (organization_id, id)
);
CREATE INDEX song_requests_event_idx ON song_requests (organization_id, event_id, status);

CREATE TABLE request_votes (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    request_id      uuid NOT NULL,
    voter_key       text NOT NULL,  -- user id, or an anonymous fan's device key
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, request_id) REFERENCES song_requests (organization_id, id)
        ON DELETE CASCADE,
    UNIQUE (request_id, voter_key)
);

CREATE TABLE karaoke_signups (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL,
    user_id         uuid REFERENCES users(id),
    singer_name     text NOT NULL,
    song_title      text,
    position        integer NOT NULL,
    status          text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'up', 'done', 'skipped')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id)
);
CREATE INDEX karaoke_signups_queue_idx ON karaoke_signups (organization_id, event_id, position);

CREATE TABLE tips (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id            uuid NOT NULL REFERENCES organizations(id),
    event_id                   uuid,
    user_id                    uuid REFERENCES users(id),
    amount_cents               integer NOT NULL CHECK (amount_cents > 0),
    platform_fee_cents         integer NOT NULL DEFAULT 0
        CHECK (platform_fee_cents >= 0 AND platform_fee_cents <= amount_cents),
    currency                   text NOT NULL DEFAULT 'usd',
    status                     text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'paid', 'refunded')),
    message                    text,
    stripe_checkout_session_id text UNIQUE,
    stripe_payment_intent_id   text UNIQUE,  -- NULL until paid; many NULLs allowed
    created_at                 timestamptz NOT NULL DEFAULT now(),
    paid_at                    timestamptz,
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id)
);
CREATE INDEX tips_event_idx ON tips (organization_id, event_id, created_at);

CREATE TABLE ppv_access (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id            uuid NOT NULL REFERENCES organizations(id),
    event_id                   uuid NOT NULL,
    user_id                    uuid NOT NULL REFERENCES users(id),
    stripe_checkout_session_id text UNIQUE,
    granted_at                 timestamptz NOT NULL DEFAULT now(),
    expires_at                 timestamptz,
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id),
    UNIQUE (event_id, user_id)
);

-- Inbound provider webhooks, deduplicated by the provider's own event id. organization_id
-- stays NOT NULL so this is an ordinary tenant table: the handler resolves the org first
-- (app_org_for_stripe_account) and then records the event under that org's context.
CREATE TABLE webhook_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    provider        text NOT NULL CHECK (provider IN ('stripe', 'twilio', 'livekit')),
    event_id        text NOT NULL,
    type            text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    UNIQUE (provider, event_id)
);
CREATE INDEX webhook_events_org_idx ON webhook_events (organization_id, received_at);

CREATE TABLE sms_conversations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    phone           text NOT NULL,
    user_id         uuid REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, phone),
    UNIQUE (organization_id, id)
);

CREATE TABLE sms_messages (
    id              bigserial PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations(id),
    conversation_id uuid NOT NULL,
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    body            text NOT NULL,
    twilio_sid      text UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, conversation_id)
        REFERENCES sms_conversations (organization_id, id)
);
CREATE INDEX sms_messages_conversation_idx ON sms_messages (conversation_id, id);

CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations(id),
    actor_id        uuid REFERENCES users(id),
    action          text NOT NULL,
    target          text,
    detail          jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org_idx ON audit_log (organization_id, created_at DESC);

-- ---------------------------------------------------------------------------------------
-- Row-level security
-- ---------------------------------------------------------------------------------------

-- The common case: rows of the claimed org, or everything for a platform admin.
-- `(SELECT app_is_platform_admin())` runs once per statement (an InitPlan), not per row.
-- The OR keeps the planner from using organization_id indexes through the policy alone,
-- so hot queries also say `organization_id = app_org_id()` themselves (see chat.py).
-- Every later migration applies this same convention to its tables by calling this
-- function, so no tenant table can end up with a subtly different policy. It runs with
-- the caller's rights (the migrating owner) and the app role may not call it.
CREATE FUNCTION app_protect_tenant_table(t regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$
        CREATE POLICY tenant_isolation ON %s
            USING (organization_id = app_org_id() OR (SELECT app_is_platform_admin()))
            WITH CHECK (organization_id = app_org_id() OR (SELECT app_is_platform_admin()))
    $p$, t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO livehub_app', t);
END
$$;
REVOKE ALL ON FUNCTION app_protect_tenant_table(regclass) FROM PUBLIC;

SELECT app_protect_tenant_table(t) FROM unnest(ARRAY[
    'events',
    'chat_messages',
    'song_requests',
    'request_votes',
    'karaoke_signups',
    'tips',
    'ppv_access',
    'webhook_events',
    'sms_conversations',
    'sms_messages'
]::regclass[]) AS t;

-- PUBLIC READ: with NO org claim (an anonymous visitor's lobby or landing page), the rows
-- of scheduled and live events are readable across tenants. Nothing in events is secret
-- (the PPV price is shown on the paywall anyway). Only when the org claim is empty, so a
-- tenant's context still sees only its own events. Ended events are never public.
CREATE POLICY public_read ON events FOR SELECT
    USING (app_org_id() IS NULL AND status IN ('scheduled', 'live'));

-- organizations: keyed by id. Members read their org; owners/admins edit it; creating an
-- org means claiming its id first (signup flow); deleting is for platform admins only.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY org_read ON organizations FOR SELECT
    USING (id = app_org_id() OR (SELECT app_is_platform_admin()));
CREATE POLICY org_create ON organizations FOR INSERT
    WITH CHECK (id = app_org_id() OR (SELECT app_is_platform_admin()));
CREATE POLICY org_edit ON organizations FOR UPDATE
    USING ((id = app_org_id() AND app_role() IN ('owner', 'admin'))
           OR (SELECT app_is_platform_admin()))
    WITH CHECK (id = app_org_id() OR (SELECT app_is_platform_admin()));
CREATE POLICY org_delete ON organizations FOR DELETE
    USING ((SELECT app_is_platform_admin()));
GRANT SELECT, INSERT, UPDATE, DELETE ON organizations TO livehub_app;

-- memberships: any member reads the roster; only owners/admins change it.
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY membership_read ON memberships FOR SELECT
    USING (organization_id = app_org_id() OR (SELECT app_is_platform_admin()));
CREATE POLICY membership_manage ON memberships FOR ALL
    USING ((organization_id = app_org_id() AND app_role() IN ('owner', 'admin'))
           OR (SELECT app_is_platform_admin()))
    WITH CHECK ((organization_id = app_org_id() AND app_role() IN ('owner', 'admin'))
                OR (SELECT app_is_platform_admin()));
GRANT SELECT, INSERT, UPDATE, DELETE ON memberships TO livehub_app;

-- audit_log: append-only for the app (no UPDATE/DELETE grant); any member's actions are
-- recorded, but only owners/admins read the trail.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_read ON audit_log FOR SELECT
    USING ((organization_id = app_org_id() AND app_role() IN ('owner', 'admin'))
           OR (SELECT app_is_platform_admin()));
CREATE POLICY audit_append ON audit_log FOR INSERT
    WITH CHECK (organization_id = app_org_id() OR (SELECT app_is_platform_admin()));
GRANT SELECT, INSERT ON audit_log TO livehub_app;

-- users (global, see above): visible to themselves, to members of a shared org, and to
-- platform admins. A user creates and edits only their own row.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY user_read ON users FOR SELECT
    USING (id = app_user_id()
           OR EXISTS (SELECT 1 FROM memberships m
                      WHERE m.user_id = users.id AND m.organization_id = app_org_id())
           OR (SELECT app_is_platform_admin()));
CREATE POLICY user_write ON users FOR ALL
    USING (id = app_user_id() OR (SELECT app_is_platform_admin()))
    WITH CHECK (id = app_user_id() OR (SELECT app_is_platform_admin()));
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO livehub_app;

GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO livehub_app;
