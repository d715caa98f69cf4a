-- 0004_karaoke: what the karaoke queue service (rooms/services/karaoke.py) needs. Additive.
--
-- * karaoke_signups (0001) gets the rotation keys. The queue is ordered by
--   (round, position): round is the singer's turn number, position the order the song
--   entered its round (a per-event counter, so it only grows; see karaoke_rotation.py).
--   singer_sub is the token's `sub` (guests have no users row, so user_id stays optional).
--   status keeps 0001's values: waiting (queued), up (on stage), done (sung), skipped.
-- * karaoke_queues: one row per event that has used karaoke. Every change locks it
--   (SELECT ... FOR UPDATE), which serialises changes per event, and bumps version.
--   It also holds the host's settings and the singers on hold.

ALTER TABLE karaoke_signups ADD COLUMN singer_sub text NOT NULL DEFAULT '';
ALTER TABLE karaoke_signups ADD COLUMN round integer NOT NULL DEFAULT 1 CHECK (round >= 1);
ALTER TABLE karaoke_signups ADD COLUMN finished_at timestamptz;

-- The active queue of an event, read on every change and every snapshot.
CREATE INDEX karaoke_signups_active_idx ON karaoke_signups (organization_id, event_id)
    WHERE status IN ('waiting', 'up');
-- One singer's songs tonight: the signup limit and their next round.
CREATE INDEX karaoke_signups_singer_idx
    ON karaoke_signups (organization_id, event_id, singer_sub);
-- At most one song on stage per event, whatever a buggy caller does.
CREATE UNIQUE INDEX karaoke_signups_one_up_idx ON karaoke_signups (organization_id, event_id)
    WHERE status = 'up';

CREATE TABLE karaoke_queues (
    organization_id uuid NOT NULL REFERENCES organizations(id),
    event_id        uuid NOT NULL,
    version         bigint NOT NULL DEFAULT 0,
    next_position   integer NOT NULL DEFAULT 1,
    max_active      integer NOT NULL DEFAULT 1 CHECK (max_active BETWEEN 1 AND 20),
    slot_seconds    integer NOT NULL DEFAULT 240 CHECK (slot_seconds BETWEEN 30 AND 3600),
    held_singers    text[] NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, event_id),
    FOREIGN KEY (organization_id, event_id) REFERENCES events (organization_id, id)
);

SELECT app_protect_tenant_table('karaoke_queues');
