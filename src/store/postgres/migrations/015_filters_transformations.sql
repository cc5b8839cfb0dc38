-- Payload filters and transformations (issue 19).
-- endpoints.filter: the endpoint's payload filter, a JSON document (MongoDB query style,
-- checked by core/payload-filter.ts), or NULL for none.
-- endpoints.transformation_code: the JavaScript of its transformation (`function handler(webhook)`),
-- or NULL; transformation_enabled: whether deliveries run it (1/true) or not.
-- messages.transformations_params: MessageIn.transformationsParams, JSON object text or NULL.
ALTER TABLE endpoints ADD COLUMN filter TEXT;
ALTER TABLE endpoints ADD COLUMN transformation_code TEXT;
ALTER TABLE endpoints ADD COLUMN transformation_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages ADD COLUMN transformations_params TEXT;
