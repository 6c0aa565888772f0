#!/bin/sh
# Network clients must use TLS: every `host` line of the image's pg_hba.conf becomes `hostssl`,
# and plain TCP is rejected outright. The local socket (the image's own set-up) stays as it is.
# Runs once, when the data volume is first initialised (docs/OPERATIONS.md#tls).
set -eu
hba="$PGDATA/pg_hba.conf"
sed -i -E 's/^host([[:space:]])/hostssl\1/' "$hba"
printf '%s\n' "host all all 0.0.0.0/0 reject" "host all all ::/0 reject" >> "$hba"
