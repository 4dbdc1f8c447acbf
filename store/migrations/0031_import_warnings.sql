-- What a preview warns about before confirm (a sync that would trash more than half of
-- the account's live customers), and the confirm's consent to it.
ALTER TABLE imports ADD COLUMN warnings jsonb,
    ADD COLUMN allow_mass_delete boolean NOT NULL DEFAULT false;
