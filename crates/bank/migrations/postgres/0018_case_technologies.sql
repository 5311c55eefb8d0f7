-- The technologies a case matched by, kept with the case (its matches never change after it is
-- made): the distinct names, sorted, separated by a space (md5, sha1, sha256, vpdq, photodna,
-- pdq:0, pdq:1-10, pdq:11-20, pdq:21-31, pdq:32+); NULL when it matched nothing (a user's flag).
-- Statistics then count a year of cases in one pass, without reading matches.
ALTER TABLE cases ADD COLUMN technologies TEXT;
UPDATE cases SET technologies = (
    SELECT string_agg(tech, ' ' ORDER BY tech COLLATE "C") FROM (
        SELECT DISTINCT CASE WHEN m.signal_type = 'pdq' THEN
        CASE WHEN m.distance = 0 THEN 'pdq:0' WHEN m.distance <= 10 THEN 'pdq:1-10'
             WHEN m.distance <= 20 THEN 'pdq:11-20' WHEN m.distance <= 31 THEN 'pdq:21-31'
             ELSE 'pdq:32+' END
      ELSE m.signal_type END AS tech
        FROM case_matches m WHERE m.case_id = cases.id) t);
CREATE INDEX cases_created ON cases (created_at);
-- Times to a decision by people, read per period.
CREATE INDEX cases_reviewed ON cases (created_at, decided_at) WHERE resolution = 'review';
