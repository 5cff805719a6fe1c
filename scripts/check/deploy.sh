#!/usr/bin/env bash
# Static checks of the deployment files (scripts/check/containers.sh runs the compose file;
# no cluster runs here):
# docker-compose.yml against the Compose specification's schema, deploy/k8s against
# Kubernetes 1.37's schemas (strict), the Prometheus config and alert rules with
# promtool, and every Grafana panel's query parsed by promtool too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$STYLIZE_ROOT"

check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml \
  deploy/compose/local-images.yml deploy/compose/test.yml
# KEDA's ScaledObject and TriggerAuthentication are custom resources whose schemas no
# registry package carries: kubernetes-validate names them as unchecked.
kubernetes-validate --strict --kubernetes-version 1.37.0 deploy/k8s/*.yaml
# (Checks the alert rules it names, too.)
promtool check config deploy/prometheus/prometheus.yml

# The dashboard's queries, as recording rules, so promtool parses each one.
queries="$(mktemp --suffix .yml)"
trap 'rm -f "$queries"' EXIT
python3 - deploy/grafana/stylize.json "$queries" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
rules = [
    {"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": target["expr"]}
    for panel in dashboard["panels"]
    for target in panel["targets"]
]
assert rules, "the dashboard has queries"
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
print(f"{sys.argv[1]}: {len(dashboard['panels'])} panels, {len(rules)} queries")
PY
promtool check rules "$queries"
