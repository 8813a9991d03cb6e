-- Extensions the pipeline stands on: pg_cron (sweeps, purges) and pg_net (dispatch after commit).
-- On hosted Supabase these are the real extensions; the local stack provides the same names.
-- Touches no data.
create extension if not exists pg_cron with schema pg_catalog;
create extension if not exists pg_net with schema extensions;
