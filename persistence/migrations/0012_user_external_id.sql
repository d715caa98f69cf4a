-- 0012_user_external_id: map a connection token's `sub` to a user, so the hub can confirm a
-- token's staff roles against memberships (hub/roles.py). Additive only.
--
-- * A token whose sub is a uuid names users.id. Any other sub (the id an identity provider
--   or back office issues, e.g. "dj-1") names users.external_id. NULL for users who never
--   get a token with such a sub; unique, since a sub is one person across organizations.

ALTER TABLE users ADD COLUMN external_id text UNIQUE
    CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 200);
