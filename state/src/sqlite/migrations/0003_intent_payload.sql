-- What an intent was about to create (spec, fingerprint, offer), so a
-- resource created before a crash can be adopted with its spec.
ALTER TABLE intents ADD COLUMN payload TEXT;
