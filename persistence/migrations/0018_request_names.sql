-- The name a requester chose to be shown by (a guest's display name), so the queue can say
-- "by Ann" instead of an opaque sub. Already cleaned by the hub (rooms.principal).
ALTER TABLE song_requests
    ADD COLUMN requester_name text CHECK (length(requester_name) <= 80);
