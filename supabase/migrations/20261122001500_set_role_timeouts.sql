-- Timeouts for the functions' login roles, which had none: a webhook delivery blocked on a row lock
-- gives up after 3 s (ops.try_apply_stripe_event re-raises 55P03 / 57014, nothing is recorded, the
-- webhook answers 503 and Stripe delivers again) instead of holding its connection while the lock
-- lasts; a runaway statement or a transaction left idle cannot hold locks for long either.
-- Role settings apply to new sessions (the functions' pools reconnect within their idle timeout).
alter role stripe_webhook set lock_timeout = '3s';
alter role stripe_webhook set statement_timeout = '15s';
alter role stripe_webhook set idle_in_transaction_session_timeout = '30s';
alter role pipeline_worker set lock_timeout = '3s';
alter role pipeline_worker set statement_timeout = '15s';
alter role pipeline_worker set idle_in_transaction_session_timeout = '30s';
