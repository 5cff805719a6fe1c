#!/bin/sh
# Compose's garage-init service: gives a new Garage its layout (this one node), imports the
# stylize key and creates the bucket, through Garage's admin API. Each step looks first,
# so running it on every `up` changes nothing once done.
set -eu
admin="http://${GARAGE_HOST:-garage}:3903/v2"
bucket="${S3_BUCKET:-stylize}"
call() { # METHOD ENDPOINT [JSON]: the answer, whitespace removed; fails on an HTTP error
  answer="$(curl -fsS -X "$1" -H "Authorization: Bearer ${GARAGE_ADMIN_TOKEN:?}" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "$admin/$2")" || return 1
  printf '%s' "$answer" | tr -d ' \n'
}
first_id() { grep -o '"id":"[0-9a-f]*"' | head -n 1 | cut -d'"' -f4; }

until call GET GetClusterHealth >/dev/null 2>&1; do
  echo "garage-init: waiting for Garage's admin API at $admin"
  sleep 2
done
layout="$(call GET GetClusterLayout)"
if echo "$layout" | grep -q '"roles":\[\]'; then
  status="$(call GET GetClusterStatus)"
  node="$(echo "$status" | first_id)"
  echo "garage-init: assigning node $node (zone dc1, ${GARAGE_CAPACITY_BYTES:-10000000000} bytes)"
  call POST UpdateClusterLayout \
    "{\"roles\":[{\"id\":\"$node\",\"zone\":\"dc1\",\"capacity\":${GARAGE_CAPACITY_BYTES:-10000000000},\"tags\":[]}]}" >/dev/null
  call POST ApplyClusterLayout '{"version":1}' >/dev/null
fi
if ! call GET "GetKeyInfo?id=${S3_ACCESS_KEY:?}" >/dev/null 2>&1; then
  echo "garage-init: importing key $S3_ACCESS_KEY"
  call POST ImportKey \
    "{\"accessKeyId\":\"$S3_ACCESS_KEY\",\"secretAccessKey\":\"${S3_SECRET_KEY:?}\",\"name\":\"stylize\"}" >/dev/null
fi
if ! call GET "GetBucketInfo?globalAlias=$bucket" >/dev/null 2>&1; then
  echo "garage-init: creating bucket $bucket"
  call POST CreateBucket "{\"globalAlias\":\"$bucket\"}" >/dev/null
fi
bucket_id="$(call GET "GetBucketInfo?globalAlias=$bucket" | first_id)"
[ -n "$bucket_id" ] || { echo "garage-init: bucket $bucket has no id" >&2; exit 1; }
call POST AllowBucketKey \
  "{\"bucketId\":\"$bucket_id\",\"accessKeyId\":\"$S3_ACCESS_KEY\",\"permissions\":{\"read\":true,\"write\":true,\"owner\":true}}" >/dev/null
echo "garage-init: layout, key $S3_ACCESS_KEY and bucket $bucket ready"
