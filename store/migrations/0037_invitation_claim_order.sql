-- The claim takes due recipients in (next_attempt_at, customer_id) order. All rows of a
-- batch start with the same next_attempt_at, so an index on it alone left every claim to
-- sort the whole pending rest of the batch by customer_id: a claim cost grew with the
-- batch. With the customer id in the index, a claim reads just its rows.
DROP INDEX invitation_recipients_pending;
CREATE INDEX invitation_recipients_pending ON invitation_recipients (run_id, next_attempt_at, customer_id)
    WHERE status = 'pending';
