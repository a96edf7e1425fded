-- Jobs that push their work (issue 12): what POST /jobs gave for repo.pushBranch, commitMessage,
-- pullRequest and author, as JSON (src/shared/job-format.ts RepoPushSettings); NULL for jobs that do not push.
ALTER TABLE jobs ADD COLUMN repo_push TEXT;
