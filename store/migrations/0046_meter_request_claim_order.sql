-- The claim takes a batch's due recipients in (next_attempt_at, contact_id) order. All
-- rows of a batch start with the same next_attempt_at, so the index on (batch, status,
-- next_attempt_at) left every claim to sort the whole pending rest of the batch by
-- contact_id: a claim cost grew with the batch (as invitations' did before 0037). With
-- the contact id in the index, a claim reads just its rows.
CREATE INDEX meter_request_recipients_pending ON meter_request_recipients (batch, tenant_id, next_attempt_at, contact_id)
    WHERE status = 'pending';
