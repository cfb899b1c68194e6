-- Why a red flag fired: the matched pack phrase and the matching method (for example
-- `mn-rf-allergy: lexicon match of "hives"; heard "highs"`). It may quote the caller's words,
-- so it lives only here, in the encrypted database (never in a log line). Escalations stored
-- before this version have none ('').
ALTER TABLE escalations ADD COLUMN evidence TEXT NOT NULL DEFAULT '';
