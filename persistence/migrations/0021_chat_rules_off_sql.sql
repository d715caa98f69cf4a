-- 0021_chat_rules_off_sql: chat's rules no longer read chat_messages per message.
--
-- Slow mode and the per-user rate are counted in each hub node's memory
-- (rooms.services.chat_rules), so the author index of 0006, which served their per-message
-- max(created_at) and count(*), is only a cost on every insert now: drop it. Mutes and
-- bans are checked by the chat INSERT itself against chat_sanctions_user_idx (0006).
DROP INDEX IF EXISTS chat_messages_author_idx;
