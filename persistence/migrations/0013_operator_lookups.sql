-- 0013_operator_lookups: what the operator API (hub/api_users.py) needs to find a user
-- before it has any tenant context. No new tables, so RLS is unchanged.
--
-- * users rows are readable only by the user, members of a shared organization and
--   platform admins (0001). The platform-key route POST /api/users creates-or-looks-up a
--   user by external_id and/or email, and may be asked for a user who is in no
--   organization yet. app_users_matching() is the one sanctioned lookup: SECURITY
--   DEFINER, it returns only the ids of rows whose external_id or email equal the given
--   ones (at most two), never their other columns; the hub then reads the row under that
--   user's own claim (app.user_id), as the user_read policy allows.

CREATE FUNCTION app_users_matching(external text, mail text) RETURNS uuid[]
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM public.users
        WHERE (external IS NOT NULL AND external_id = external)
           OR (mail IS NOT NULL AND email = mail)
    $$;
REVOKE ALL ON FUNCTION app_users_matching(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_users_matching(text, text) TO livehub_app;
