-- "Review next" in one call whose plans the server keeps per connection: the case `person`
-- holds in `queue` (lease renewed), else the oldest open case no one holds that `person` has
-- not reviewed, taken with SKIP LOCKED; leased to `person` until `lease_until`. Returns the
-- case's id and whether it was held already; no row when the queue is empty.
CREATE FUNCTION spoor_claim_next(p_queue TEXT, p_person TEXT, p_now BIGINT, p_until BIGINT)
RETURNS TABLE (case_id BIGINT, renewed BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
    found_id BIGINT;
BEGIN
    SELECT c.id INTO found_id FROM cases c
     WHERE c.queue = p_queue AND c.state IN ('queued', 'second_review', 'escalated')
       AND c.lease_holder = p_person AND c.lease_until > p_now
     ORDER BY c.id LIMIT 1 FOR UPDATE;
    IF found_id IS NOT NULL THEN
        UPDATE cases SET lease_until = p_until WHERE id = found_id;
        RETURN QUERY SELECT found_id, TRUE;
        RETURN;
    END IF;
    SELECT c.id INTO found_id FROM cases c
     WHERE c.queue = p_queue AND c.state IN ('queued', 'second_review', 'escalated')
       AND (c.lease_until IS NULL OR c.lease_until <= p_now)
       AND NOT (c.state = 'second_review' AND EXISTS (
           SELECT 1 FROM case_decisions d WHERE d.case_id = c.id AND d.person = p_person))
     ORDER BY c.id LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF found_id IS NOT NULL THEN
        UPDATE cases SET lease_holder = p_person, lease_until = p_until WHERE id = found_id;
        RETURN QUERY SELECT found_id, FALSE;
    END IF;
END
$$;
