-- A case of content already waiting for review follows that case (state 'following',
-- earlier_case = the lead) and takes its decision when it is made.
-- Finding the open case of some content:
CREATE INDEX cases_open_sha256 ON cases (sha256)
    WHERE state IN ('queued', 'second_review', 'escalated') AND sha256 IS NOT NULL;
-- A lead's followers, when the lead is decided:
CREATE INDEX cases_following ON cases (earlier_case) WHERE state = 'following';
