-- The rows a batch has claimed and not yet marked: at most one batch per connection. The
-- mark, the release and the abandon of a crashed attempt find them here; without it the
-- planner (which rarely sees a claimed row in its statistics) read every row of the batch
-- to find the claimed ones, so each mark cost more the larger the batch.
CREATE INDEX invitation_recipients_claimed ON invitation_recipients (run_id, customer_id)
    WHERE status = 'claimed';
