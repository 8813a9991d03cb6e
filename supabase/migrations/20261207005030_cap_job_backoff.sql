-- Transient failures (5xx, timeouts, lost answers) back off with jitter and a low cap (#21): a streak of faults
-- under the 5 s doubling backoff capped at an hour left a paid order out of the CRM for minutes (6 failures
-- waited 315 s). Now 1-2 s doubling, capped at 30 s, scaled by jitter into [50%, 100%]; a provider's
-- Retry-After and the rate budget still decide when longer. More attempts keep an outage of about ten minutes
-- from dead-lettering (CRM: 25 attempts, ~11 min; notifications: 20, ~8 min). Changes ops.job_kinds rows.

update ops.job_kinds set backoff_base_ms = 1000, backoff_max_ms = 30000, max_attempts = greatest(max_attempts, 25)
 where kind in ('crm.contact', 'crm.deal', 'crm.seller', 'crm.gdpr_delete');
update ops.job_kinds set backoff_base_ms = 2000, backoff_max_ms = 30000, max_attempts = greatest(max_attempts, 20)
 where kind in ('notify.email', 'notify.slack', 'support.ticket');
