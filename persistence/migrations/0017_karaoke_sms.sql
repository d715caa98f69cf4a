-- 0017_karaoke_sms: "you're up next" texts for karaoke singers who gave a phone, and the
-- key that keeps a texting singer's phone out of the karaoke state. Additive.
--
-- * karaoke_signups.phone: where the hub texts "you're up next" for this signup (E.164,
--   normalized by rooms/phones.py). A web signup gives it with sms_consent; a fan who
--   signs up by text ("sing <song>") gives it by texting. sms_consent_at records when the
--   singer consented: a phone is never stored without it. STOP from that phone
--   (sms_opt_outs) still wins: every text checks the opt-out first.
-- * karaoke_queues.alias_key: a per-event secret. A texting singer's sub is
--   sms:<phone>; room events show an alias derived from it with this key
--   (rooms/services/karaoke_aliases.py), so other fans never see the phone and cannot
--   guess it from the alias. Only the org's own connections read the key (RLS).
-- Both tables are already tenant tables with ENABLE + FORCE RLS (0001, 0004).

ALTER TABLE karaoke_signups
    ADD COLUMN phone text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    ADD COLUMN sms_consent_at timestamptz,
    ADD CONSTRAINT karaoke_signups_phone_consent
        CHECK ((phone IS NULL) = (sms_consent_at IS NULL));

ALTER TABLE karaoke_queues
    ADD COLUMN alias_key uuid NOT NULL DEFAULT gen_random_uuid();
