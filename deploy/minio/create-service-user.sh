#!/bin/sh
# One-shot (docker-compose service `minio-users`): the MinIO user `serve` and `worker` use,
# allowed to read its bucket and put/get/delete objects under recordings/ in it, nothing else
# (no lifecycle, policy or versioning change, no other bucket). `recstore migrate` creates
# the bucket and sets the lifecycle backstop with the root identity. Safe to re-run.
set -eu
: "${S3_SERVICE_USER:?set S3_SERVICE_USER}" "${S3_SERVICE_PASSWORD:?set S3_SERVICE_PASSWORD}"
# MinIO serves TLS with the compose CA (`certs` step): mc trusts the CAs in ~/.mc/certs/CAs.
if [ -f /tls/ca.pem ]; then
    mkdir -p "$HOME/.mc/certs/CAs" && cp /tls/ca.pem "$HOME/.mc/certs/CAs/recstore-ca.pem"
fi
mc alias set recstore "${S3_ENDPOINT:-https://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc admin policy create recstore recstore-service /policy/recstore-service-policy.json
mc admin user add recstore "$S3_SERVICE_USER" "$S3_SERVICE_PASSWORD"
mc admin policy attach recstore recstore-service --user "$S3_SERVICE_USER" 2>/dev/null \
    || echo "policy recstore-service already attached to $S3_SERVICE_USER"
