-- Who wrote a chat message, as the room saw them when it was posted: the display name from
-- their token (already cleaned by the hub, rooms.principal) and whether they posted as
-- staff (dj, moderator, admin). History then labels earlier lines as the live event did,
-- and a guest named "DJ Friday (host)" cannot pass for the host. Rows written before this
-- migration read as no name, not staff. chat_messages keeps its tenant_isolation policy
-- and grants (0001): new columns inherit both.
ALTER TABLE chat_messages
    ADD COLUMN author_name text NOT NULL DEFAULT '' CHECK (length(author_name) <= 80),
    ADD COLUMN author_staff boolean NOT NULL DEFAULT false;
