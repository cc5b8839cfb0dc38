-- Idempotency records used to keep the whole answer of auth/app-portal-access, a live
-- application token, for 12 hours and then until the key was reused. That route's answer is
-- no longer stored; forget the ones that were.
DELETE FROM idempotency_keys WHERE response LIKE '%"token":"herald_app_%';
