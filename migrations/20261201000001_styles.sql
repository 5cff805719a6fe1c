-- A job's style images as one list in blend order, each an upload (stored with the job
-- at its position in the list, `jobs/{id}/style-{position}`) or a preset by id:
-- `[{"source": "upload"}, {"source": "preset", "id": "starry-night"}]`, as
-- `stylize_shared::job::StyleSource` reads and writes it. It replaces `presets`, where an
-- upload was an empty string, and `style_count`, its length. Older jobs put their uploads
-- first, so an upload's position there is also its number among the uploads.
ALTER TABLE jobs ADD COLUMN styles JSONB;
UPDATE jobs SET styles = (
    SELECT jsonb_agg(
        CASE WHEN COALESCE(presets[position], '') = '' THEN '{"source": "upload"}'::jsonb
             ELSE jsonb_build_object('source', 'preset', 'id', presets[position]) END
        ORDER BY position)
    FROM generate_series(1, style_count) AS position);
ALTER TABLE jobs
    ALTER COLUMN styles SET NOT NULL,
    ADD CONSTRAINT jobs_styles_listed
        CHECK (jsonb_typeof(styles) = 'array' AND jsonb_array_length(styles) > 0),
    DROP COLUMN presets,
    DROP COLUMN style_count;
